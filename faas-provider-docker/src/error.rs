//! [`DockerError`], this crate's error, and its one conversion to [`faas_core::Error`].

use bollard::errors::Error as BollardError;
use faas_core::{Error, ErrorKind};

/// What went wrong talking to the Docker engine or with a request.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine did not answer.
    #[error(
        "cannot reach the Docker engine at {host}: {source}; start dockerd (or set DOCKER_HOST to a running engine)"
    )]
    Unreachable {
        /// The engine address.
        host: String,
        /// The transport error.
        #[source]
        source: BollardError,
    },
    /// The engine answers but is not a Swarm manager.
    #[error(
        "the Docker engine at {host} is not a Swarm manager; make it one with `docker swarm init --advertise-addr 127.0.0.1`"
    )]
    NotSwarmManager {
        /// The engine address.
        host: String,
    },
    /// A Docker API call failed.
    #[error("docker {op}: {source}")]
    Api {
        /// The operation, e.g. `create service`.
        op: &'static str,
        /// The engine's answer.
        #[source]
        source: BollardError,
    },
    /// A request field is invalid on this provider.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The function, secret or namespace does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The name is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// A deadline passed.
    #[error("{0}")]
    Timeout(String),
    /// The engine answered something this provider cannot use.
    #[error("{0}")]
    Unexpected(String),
}

impl DockerError {
    /// An [`DockerError::Invalid`] naming `field`.
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DockerError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            DockerError::Unreachable { .. } | DockerError::NotSwarmManager { .. } => {
                ErrorKind::Unavailable
            }
            DockerError::Invalid { .. } => ErrorKind::InvalidInput,
            DockerError::NotFound(_) => ErrorKind::NotFound,
            DockerError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            DockerError::Conflict(_) => ErrorKind::Conflict,
            DockerError::Timeout(_) => ErrorKind::Timeout,
            DockerError::Unexpected(_) => ErrorKind::Internal,
            DockerError::Api { source, .. } => api_kind(source),
        }
    }
}

pub(crate) fn is_transport(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::SocketNotFoundError(_)
            | BollardError::IOError { .. }
            | BollardError::HyperLegacyError { .. }
            | BollardError::HyperResponseError { .. }
            | BollardError::HttpClientError { .. }
            | BollardError::RequestTimeoutError
    )
}

fn api_kind(e: &BollardError) -> ErrorKind {
    match e {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 => ErrorKind::NotFound,
            409 => ErrorKind::AlreadyExists,
            400 => ErrorKind::InvalidInput,
            503 => ErrorKind::Unavailable,
            _ if message.contains("update out of sequence") => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        },
        BollardError::RequestTimeoutError => ErrorKind::Timeout,
        e if is_transport(e) => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

impl From<DockerError> for Error {
    fn from(e: DockerError) -> Self {
        let kind = e.kind();
        let message = match &e {
            DockerError::Invalid { message, .. } => message.clone(),
            DockerError::Api {
                op,
                source: BollardError::DockerResponseServerError { message, .. },
            } => {
                format!("docker {op}: {message}")
            }
            other => other.to_string(),
        };
        let field = match &e {
            DockerError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        let mut out = Error::new(kind, message).with_source(e);
        if let Some(field) = field {
            out = out.with_field(field);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn api(status: u16, message: &str) -> DockerError {
        DockerError::Api {
            op: "test",
            source: BollardError::DockerResponseServerError {
                status_code: status,
                message: message.into(),
            },
        }
    }

    #[test]
    fn engine_statuses_map_to_kinds() {
        assert_eq!(
            Error::from(api(404, "no such service")).kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            Error::from(api(409, "name conflicts")).kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(Error::from(api(400, "bad")).kind(), ErrorKind::InvalidInput);
        assert_eq!(
            Error::from(api(503, "not a manager")).kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            Error::from(api(500, "rpc error: update out of sequence")).kind(),
            ErrorKind::Conflict
        );
        assert_eq!(Error::from(api(500, "boom")).kind(), ErrorKind::Internal);
    }

    #[test]
    fn setup_errors_say_how_to_fix_them() {
        let e = Error::from(DockerError::NotSwarmManager {
            host: "unix:///x".into(),
        });
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(
            e.message()
                .contains("docker swarm init --advertise-addr 127.0.0.1"),
            "{e}"
        );
        let e = Error::from(DockerError::invalid("limits.memory", "too big"));
        assert_eq!(e.field(), Some("limits.memory"));
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
}
