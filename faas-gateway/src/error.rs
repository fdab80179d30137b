//! [`GatewayError`]: every failure the gateway answers with, and the one table that turns it
//! into an HTTP status, a JSON body and a fault [`Source`].
//!
//! No handler writes an error status by hand: they return `GatewayError`, and
//! [`GatewayError::into_http`] (also the axum `IntoResponse`) builds the response. Provider
//! errors keep their [`ErrorKind`] through [`ErrorKind::http_status`].

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use faas_core::{ErrorBody, ErrorKind};
use http::{HeaderValue, StatusCode, header};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whose fault a failure was; chooses the status class and the `source` of error logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The caller sent something wrong (4xx).
    Client,
    /// The orchestrator or the gateway itself failed (5xx: 500, 501, 503).
    Provider,
    /// The user's function failed or took too long (502, 504).
    Function,
}

impl Source {
    /// A stable lowercase name for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Client => "client",
            Source::Provider => "provider",
            Source::Function => "function",
        }
    }
}

/// A failure of a gateway request.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A provider operation failed; its kind picks the status.
    #[error(transparent)]
    Provider(#[from] faas_core::Error),
    /// `/function/{name}` names a function that does not exist.
    #[error("function {0} not found")]
    FunctionNotFound(String),
    /// The function had no ready replica within the scale-from-zero timeout.
    #[error("no ready replica of {function} within {timeout:?}")]
    NoReadyReplica {
        /// `name.namespace`.
        function: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// The function did not answer within `upstream_timeout`.
    #[error("function {function} did not answer within {timeout:?}")]
    UpstreamTimeout {
        /// `name.namespace`.
        function: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// The connection to the function's replica was refused or broke.
    #[error("function {function} is unreachable")]
    UpstreamUnreachable {
        /// `name.namespace`.
        function: String,
        /// The transport error.
        #[source]
        source: BoxError,
    },
    /// The request body is larger than `max_body_bytes`.
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: u64,
    },
    /// The request body could not be read.
    #[error("could not read the request body")]
    BodyRead(#[source] BoxError),
    /// The request body or query is not what the route expects; names the field.
    #[error("{field}: {message}")]
    BadRequest {
        /// The field at fault (`body` when the JSON is not well formed).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Missing or wrong credentials on `/system/*`.
    #[error("invalid credentials")]
    Unauthorized,
    /// A path with dot segments, empty segments or percent-encoding outside `/function/`.
    #[error("path is not canonical")]
    NonCanonicalPath,
    /// No route matches the path.
    #[error("no route for this path")]
    RouteNotFound,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A control-plane call took longer than `write_timeout`.
    #[error("the request took longer than {0:?}")]
    HandlerTimeout(Duration),
    /// The async queue refused or failed an operation (full, unreachable, bad
    /// `X-Callback-Url`, unknown dead letter); its own table picks the status.
    #[error(transparent)]
    Queue(#[from] faas_queue::QueueError),
}

impl GatewayError {
    /// A bad-request error naming `field`.
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The whole status table.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::Provider(e) => e.kind().http_status(),
            GatewayError::FunctionNotFound(_) | GatewayError::RouteNotFound => {
                StatusCode::NOT_FOUND
            }
            GatewayError::NoReadyReplica { .. } => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::UpstreamTimeout { .. } | GatewayError::HandlerTimeout(_) => {
                StatusCode::GATEWAY_TIMEOUT
            }
            GatewayError::UpstreamUnreachable { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::BodyRead(_)
            | GatewayError::BadRequest { .. }
            | GatewayError::NonCanonicalPath => StatusCode::BAD_REQUEST,
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
            GatewayError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::Queue(e) => e.http_status(),
        }
    }

    /// The error kind carried in the JSON body.
    pub fn kind(&self) -> ErrorKind {
        match self {
            GatewayError::Provider(e) => e.kind(),
            GatewayError::FunctionNotFound(_) | GatewayError::RouteNotFound => ErrorKind::NotFound,
            GatewayError::NoReadyReplica { .. } | GatewayError::UpstreamUnreachable { .. } => {
                ErrorKind::Unavailable
            }
            GatewayError::UpstreamTimeout { .. } | GatewayError::HandlerTimeout(_) => {
                ErrorKind::Timeout
            }
            GatewayError::BodyTooLarge { .. }
            | GatewayError::BodyRead(_)
            | GatewayError::BadRequest { .. }
            | GatewayError::NonCanonicalPath
            | GatewayError::MethodNotAllowed => ErrorKind::InvalidInput,
            GatewayError::Unauthorized => ErrorKind::Unauthenticated,
            GatewayError::Queue(e) => match e.http_status().as_u16() {
                400 | 413 => ErrorKind::InvalidInput,
                404 => ErrorKind::NotFound,
                503 => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
        }
    }

    /// Whose fault it was.
    pub fn source_of_fault(&self) -> Source {
        match self {
            GatewayError::UpstreamTimeout { .. } | GatewayError::UpstreamUnreachable { .. } => {
                Source::Function
            }
            other if other.status().is_client_error() => Source::Client,
            _ => Source::Provider,
        }
    }

    /// The JSON body: short, with no internal detail (sources stay in the logs).
    pub fn body(&self) -> ErrorBody {
        match self {
            GatewayError::Provider(e) => e.to_body(),
            GatewayError::BadRequest { field, message } => ErrorBody {
                kind: self.kind().as_str().to_owned(),
                message: message.clone(),
                field: Some(field.clone()),
            },
            GatewayError::Queue(e) => ErrorBody {
                kind: self.kind().as_str().to_owned(),
                message: e.to_string(),
                field: match e {
                    faas_queue::QueueError::InvalidCallback(_) => Some("X-Callback-Url".to_owned()),
                    faas_queue::QueueError::Invalid { field, .. } => Some((*field).to_owned()),
                    faas_queue::QueueError::TooLarge { .. } => Some("body".to_owned()),
                    _ => None,
                },
            },
            other => ErrorBody {
                kind: other.kind().as_str().to_owned(),
                message: other.to_string(),
                field: None,
            },
        }
    }

    /// The HTTP response for this error.
    pub fn into_http(self) -> Response {
        let status = self.status();
        let source = self.source_of_fault();
        if status.is_server_error() {
            tracing::warn!(error = %self, source = source.as_str(), cause = ?std::error::Error::source(&self), "request failed");
        } else {
            tracing::debug!(error = %self, source = source.as_str(), "request rejected");
        }
        let retry_after = match &self {
            GatewayError::Queue(e) => e.retry_after(),
            _ => None,
        };
        let mut body = serde_json::to_vec(&self.body()).unwrap_or_default();
        body.push(b'\n');
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        match source {
            Source::Client => {}
            _ => {
                headers.insert("x-openfaas-internal", HeaderValue::from_static("gateway"));
            }
        }
        if let Some(after) = retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
        }
        if matches!(self, GatewayError::Unauthorized) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Restricted\""),
            );
        }
        response
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        self.into_http()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let cases: Vec<(GatewayError, u16, Source)> = vec![
            (
                GatewayError::FunctionNotFound("x.y".into()),
                404,
                Source::Client,
            ),
            (
                GatewayError::NoReadyReplica {
                    function: "x".into(),
                    timeout: Duration::ZERO,
                },
                503,
                Source::Provider,
            ),
            (
                GatewayError::UpstreamTimeout {
                    function: "x".into(),
                    timeout: Duration::ZERO,
                },
                504,
                Source::Function,
            ),
            (
                GatewayError::UpstreamUnreachable {
                    function: "x".into(),
                    source: "refused".into(),
                },
                502,
                Source::Function,
            ),
            (GatewayError::BodyTooLarge { limit: 1 }, 413, Source::Client),
            (
                GatewayError::bad_request("replicas", "not a number"),
                400,
                Source::Client,
            ),
            (GatewayError::Unauthorized, 401, Source::Client),
            (
                GatewayError::Provider(faas_core::Error::already_exists("x")),
                409,
                Source::Client,
            ),
            (
                GatewayError::Provider(faas_core::Error::unsupported("x")),
                501,
                Source::Provider,
            ),
            (
                GatewayError::Queue(faas_queue::QueueError::Full { depth: 1, max: 1 }),
                503,
                Source::Provider,
            ),
            (
                GatewayError::Queue(faas_queue::QueueError::InvalidCallback("bad".into())),
                400,
                Source::Client,
            ),
        ];
        for (err, status, source) in cases {
            assert_eq!(err.status().as_u16(), status, "{err}");
            assert_eq!(err.source_of_fault(), source, "{err}");
        }
    }

    #[test]
    fn unauthorized_carries_the_challenge_and_bad_request_names_the_field() {
        let r = GatewayError::Unauthorized.into_http();
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"Restricted\""
        );
        let body = GatewayError::bad_request("replicas", "invalid type").body();
        assert_eq!(body.field.as_deref(), Some("replicas"));
        assert_eq!(body.kind, "invalid_input");
        let full = GatewayError::Queue(faas_queue::QueueError::Full { depth: 1, max: 1 });
        assert_eq!(full.into_http().headers()[header::RETRY_AFTER], "5");
        let cb = GatewayError::Queue(faas_queue::QueueError::InvalidCallback("bad".into()));
        assert_eq!(cb.body().field.as_deref(), Some("X-Callback-Url"));
    }
}
