//! The crate's error type and its one mapping to [`faas_core::Error`].

use std::io;
use std::path::PathBuf;

use faas_core::{Error, ErrorKind};

/// Everything that can go wrong inside the local provider.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A file or directory of the data or runtime directory could not be used.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The state file could not be encoded or decoded.
    #[error("state file {}: {source}", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A secret could not be encrypted or decrypted (wrong key or damaged file).
    #[error("secret {name}: {message}")]
    Crypto {
        /// The secret's `namespace/name`.
        name: String,
        /// What failed (never the value).
        message: &'static str,
    },
    /// The secrets key file is unusable: missing while secrets exist, the wrong size, or not
    /// the key the stored secrets were encrypted with.
    #[error("secrets key {}: {message}", path.display())]
    SecretsKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it (never the key).
        message: String,
    },
}

impl LocalError {
    /// An [`LocalError::Io`] for `op` on `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| LocalError::Io { op, path, source }
    }
}

impl From<LocalError> for Error {
    fn from(err: LocalError) -> Self {
        let kind = match &err {
            LocalError::Io { .. }
            | LocalError::State { .. }
            | LocalError::Crypto { .. }
            | LocalError::SecretsKey { .. } => ErrorKind::Internal,
        };
        Error::new(kind, err.to_string()).with_source(err)
    }
}

/// A `Result` with [`LocalError`].
pub(crate) type LocalResult<T> = std::result::Result<T, LocalError>;
