//! The crate's error type.

/// Everything that can go wrong configuring or running a watchdog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or malformed; `field` is the environment variable name.
    #[error("invalid setting `{field}`: {message}")]
    Config {
        /// The offending setting (its environment variable name).
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// An I/O failure (binding, accepting, spawning, the lock file).
    #[error("{context}: {source}")]
    Io {
        /// What the watchdog was doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn config(field: &'static str, message: impl Into<String>) -> Self {
        Self::Config {
            field,
            message: message.into(),
        }
    }
}
