//! The one error type of this crate, and its mapping to HTTP and to [`faas_core::Error`].

use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` whose error is [`QueueError`].
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// What went wrong while queueing, delivering or settling an async call.
///
/// The gateway answers an enqueue failure with [`QueueError::http_status`] and, when present,
/// a `Retry-After` header of [`QueueError::retry_after`]. Any error from
/// [`Queue::enqueue`](crate::Queue::enqueue) means the call was **not** stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The queue holds its maximum number of calls (HTTP 503 with `Retry-After`).
    #[error("queue is full ({depth} of {max} calls queued)")]
    Full {
        /// Calls queued when the enqueue was refused.
        depth: u64,
        /// The configured maximum depth.
        max: u64,
    },
    /// The backend cannot be reached or refused the write (HTTP 503 with `Retry-After`).
    #[error("queue unavailable: {message}")]
    Unavailable {
        /// One line saying what failed.
        message: String,
        /// The underlying cause, for logs.
        #[source]
        source: Option<BoxError>,
    },
    /// The `X-Callback-Url` is not an allowed http(s) URL (HTTP 400).
    #[error("X-Callback-Url: {0}")]
    InvalidCallback(String),
    /// A field of the call is invalid (HTTP 400); `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The encoded call is larger than the backend accepts (HTTP 413).
    #[error("call of {size} bytes exceeds the queue's limit of {max} bytes")]
    TooLarge {
        /// Size of the encoded call.
        size: usize,
        /// The backend's limit.
        max: usize,
    },
    /// No dead letter has this call id (HTTP 404).
    #[error("dead letter {0} not found")]
    NotFound(String),
    /// The embedded store failed (HTTP 503: the disk may be full or failing).
    #[error("embedded queue storage: {0}")]
    Storage(#[source] Box<redb::Error>),
    /// A stored message could not be decoded (HTTP 500).
    #[error("corrupt queued call: {0}")]
    Decode(#[source] serde_json::Error),
    /// The queue was shut down (HTTP 503).
    #[error("queue is closed")]
    Closed,
}

impl QueueError {
    /// `Unavailable` with a message and a cause.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        QueueError::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The HTTP status the gateway answers this error with.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            QueueError::Full { .. }
            | QueueError::Unavailable { .. }
            | QueueError::Storage(_)
            | QueueError::Closed => S::SERVICE_UNAVAILABLE,
            QueueError::InvalidCallback(_) | QueueError::Invalid { .. } => S::BAD_REQUEST,
            QueueError::TooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            QueueError::NotFound(_) => S::NOT_FOUND,
            QueueError::Decode(_) => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// How long a client should wait before retrying, for errors that are worth retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            QueueError::Full { .. } => Some(Duration::from_secs(5)),
            QueueError::Unavailable { .. } | QueueError::Storage(_) | QueueError::Closed => {
                Some(Duration::from_secs(2))
            }
            _ => None,
        }
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retry_after().is_some()
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for QueueError {
            fn from(e: $t) -> Self {
                QueueError::Storage(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::DatabaseError,
    redb::TransactionError,
    redb::CommitError
);

impl From<QueueError> for faas_core::Error {
    fn from(e: QueueError) -> Self {
        let message = e.to_string();
        let err = match &e {
            QueueError::Full { .. }
            | QueueError::Unavailable { .. }
            | QueueError::Storage(_)
            | QueueError::Closed => faas_core::Error::unavailable(message),
            QueueError::InvalidCallback(m) => {
                faas_core::Error::invalid("X-Callback-Url", m.clone())
            }
            QueueError::Invalid { field, message } => {
                faas_core::Error::invalid(*field, message.clone())
            }
            QueueError::TooLarge { .. } => faas_core::Error::invalid("body", message),
            QueueError::NotFound(_) => faas_core::Error::not_found(message),
            QueueError::Decode(_) => faas_core::Error::internal(message),
        };
        err.with_source(e)
    }
}
