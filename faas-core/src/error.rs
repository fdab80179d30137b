//! The one error type of the provider contract.
//!
//! Every failure a [`Provider`](crate::Provider) reports is an [`Error`] with an
//! [`ErrorKind`]. The kind decides the HTTP status (here, [`ErrorKind::http_status`]) and the
//! gRPC code (in `grpc::status`), in both directions, so a kind survives any hop. The message
//! is one line meant for the user and names the offending field where there is one.

use std::fmt;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a caller can act on.
///
/// Each kind maps to exactly one HTTP status and one gRPC code (see [`ErrorKind::http_status`]
/// and `faas_core::grpc::status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The function, secret or namespace does not exist (HTTP 404).
    NotFound,
    /// An object with that name already exists (HTTP 409).
    AlreadyExists,
    /// The request is malformed or fails validation; the error names the field (HTTP 400).
    InvalidInput,
    /// The request conflicts with the current state, e.g. a concurrent update (HTTP 412).
    Conflict,
    /// The provider does not support this operation or option (HTTP 501).
    Unsupported,
    /// No or wrong credentials (HTTP 401).
    Unauthenticated,
    /// Credentials are valid but do not allow this (HTTP 403).
    PermissionDenied,
    /// The backend is unreachable or overloaded; retrying may help (HTTP 503).
    Unavailable,
    /// The operation did not finish within its deadline (HTTP 504).
    Timeout,
    /// A bug or an unexpected backend answer (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// Every kind, for table-driven tests and exhaustive mappings.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::InvalidInput,
        ErrorKind::Conflict,
        ErrorKind::Unsupported,
        ErrorKind::Unauthenticated,
        ErrorKind::PermissionDenied,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::Internal,
    ];

    /// The stable snake_case name used in JSON error bodies and gRPC metadata.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
        }
    }

    /// Parses the name produced by [`ErrorKind::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The HTTP status this kind is answered with.
    pub const fn http_status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ErrorKind::NotFound => S::NOT_FOUND,
            ErrorKind::AlreadyExists => S::CONFLICT,
            ErrorKind::InvalidInput => S::BAD_REQUEST,
            ErrorKind::Conflict => S::PRECONDITION_FAILED,
            ErrorKind::Unsupported => S::NOT_IMPLEMENTED,
            ErrorKind::Unauthenticated => S::UNAUTHORIZED,
            ErrorKind::PermissionDenied => S::FORBIDDEN,
            ErrorKind::Unavailable => S::SERVICE_UNAVAILABLE,
            ErrorKind::Timeout => S::GATEWAY_TIMEOUT,
            ErrorKind::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The kind an HTTP error status stands for (the reverse of [`ErrorKind::http_status`]).
    ///
    /// Statuses outside the table are folded into the nearest kind: other 4xx are
    /// `InvalidInput` (422 included), 408 is `Timeout`, 429 and 502 are `Unavailable`,
    /// other 5xx are `Internal`. Returns `None` for non-error statuses.
    pub fn from_http_status(status: http::StatusCode) -> Option<Self> {
        if !(status.is_client_error() || status.is_server_error()) {
            return None;
        }
        if let Some(kind) = Self::ALL.into_iter().find(|k| k.http_status() == status) {
            return Some(kind);
        }
        Some(match status.as_u16() {
            408 => ErrorKind::Timeout,
            429 | 502 => ErrorKind::Unavailable,
            s if s < 500 => ErrorKind::InvalidInput,
            _ => ErrorKind::Internal,
        })
    }

    /// Whether an operation that failed with this kind may succeed if retried.
    pub const fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Timeout)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every provider operation: a [kind](ErrorKind), a one-line message, the field
/// at fault (for `InvalidInput` and friends) and an optional source.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    field: Option<String>,
    #[source]
    source: Option<BoxError>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {field}: {}", self.kind, self.message),
            None => write!(f, "{}: {}", self.kind, self.message),
        }
    }
}

impl Error {
    /// An error of `kind` with a one-line `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            field: None,
            source: None,
        }
    }

    /// `NotFound` with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// `AlreadyExists` with `message`.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message)
    }

    /// `InvalidInput` naming `field`, e.g. `Error::invalid("service", "must be a DNS-1123 label")`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message).with_field(field)
    }

    /// `Unsupported` with `message`.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// `Unavailable` with `message`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// `Timeout` with `message`.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// `Internal` with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Names the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Attaches the underlying cause (kept for logs, never sent over the wire).
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The one-line message, without kind or field.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field at fault, if any (`service`, `labels.com.openfaas.scale.min`, …).
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// The HTTP status for this error.
    pub fn http_status(&self) -> http::StatusCode {
        self.kind.http_status()
    }

    /// The JSON body that carries this error over HTTP.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            kind: self.kind.as_str().to_owned(),
            message: self.message.clone(),
            field: self.field.clone(),
        }
    }

    /// Rebuilds an error from an HTTP error response: the kind comes from the JSON body when it
    /// is one of ours, otherwise from the status; the message from the body or the status text.
    pub fn from_http(status: http::StatusCode, body: &[u8]) -> Self {
        let fallback = ErrorKind::from_http_status(status).unwrap_or(ErrorKind::Internal);
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(parsed) => {
                let kind = ErrorKind::from_name(&parsed.kind).unwrap_or(fallback);
                let mut err = Error::new(kind, parsed.message);
                err.field = parsed.field;
                err
            }
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                let message = if text.is_empty() {
                    status.canonical_reason().unwrap_or("error").to_owned()
                } else {
                    text.to_owned()
                };
                Error::new(fallback, message)
            }
        }
    }
}

/// The JSON shape of an error on the HTTP API:
/// `{"kind":"invalid_input","message":"must be a DNS-1123 label","field":"service"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// [`ErrorKind::as_str`] of the kind.
    pub kind: String,
    /// The one-line message.
    pub message: String,
    /// The field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_http_status() {
        for kind in ErrorKind::ALL {
            let status = kind.http_status();
            let back = ErrorKind::from_http_status(status);
            // AlreadyExists is the only kind on 409; every status in the table is unique.
            assert_eq!(back, Some(kind), "{kind} -> {status}");
        }
    }

    #[test]
    fn http_statuses_outside_the_table_fold_into_a_kind() {
        use http::StatusCode as S;
        assert_eq!(
            ErrorKind::from_http_status(S::UNPROCESSABLE_ENTITY),
            Some(ErrorKind::InvalidInput)
        );
        assert_eq!(
            ErrorKind::from_http_status(S::REQUEST_TIMEOUT),
            Some(ErrorKind::Timeout)
        );
        assert_eq!(
            ErrorKind::from_http_status(S::TOO_MANY_REQUESTS),
            Some(ErrorKind::Unavailable)
        );
        assert_eq!(
            ErrorKind::from_http_status(S::BAD_GATEWAY),
            Some(ErrorKind::Unavailable)
        );
        assert_eq!(
            ErrorKind::from_http_status(S::HTTP_VERSION_NOT_SUPPORTED),
            Some(ErrorKind::Internal)
        );
        assert_eq!(ErrorKind::from_http_status(S::OK), None);
        assert_eq!(ErrorKind::from_http_status(S::FOUND), None);
    }

    #[test]
    fn every_kind_round_trips_through_the_json_body() {
        for kind in ErrorKind::ALL {
            let err = Error::new(kind, "boom").with_field("service");
            let body = serde_json::to_vec(&err.to_body()).expect("an ErrorBody serialises");
            let back = Error::from_http(err.http_status(), &body);
            assert_eq!(back.kind(), kind);
            assert_eq!(back.message(), "boom");
            assert_eq!(back.field(), Some("service"));
        }
    }

    #[test]
    fn plain_text_bodies_keep_their_text_and_take_the_kind_from_the_status() {
        let err = Error::from_http(http::StatusCode::NOT_FOUND, b"function not found\n");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.message(), "function not found");
        let err = Error::from_http(http::StatusCode::SERVICE_UNAVAILABLE, b"");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(err.message(), "Service Unavailable");
    }

    #[test]
    fn display_is_one_line_with_kind_and_field() {
        let err = Error::invalid("service", "must be a DNS-1123 label");
        assert_eq!(
            err.to_string(),
            "invalid_input: service: must be a DNS-1123 label"
        );
        assert!(Error::timeout("x").is_retryable());
        assert!(!Error::not_found("x").is_retryable());
    }

    #[test]
    fn kind_names_parse_back() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::from_name("nope"), None);
    }
}
