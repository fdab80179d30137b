//! Basic auth for the control plane: where credentials come from, and the constant-time check.
//!
//! Credentials are looked up in order: the OpenFaaS secret files `basic-auth-user` and
//! `basic-auth-password` in `secret_mount_path`; credentials given in the environment;
//! `<data-dir>/gateway/basic-auth-{user,password}` from an earlier start; and otherwise a
//! fresh 32-character password for user `admin`, written there with mode 0600.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::GatewayConfig;

/// The user name of generated credentials.
pub const GENERATED_USER: &str = "admin";
/// The OpenFaaS file name holding the user.
pub const USER_FILE: &str = "basic-auth-user";
/// The OpenFaaS file name holding the password.
pub const PASSWORD_FILE: &str = "basic-auth-password";

/// Credentials could not be read or generated.
#[derive(Debug, thiserror::Error)]
#[error("basic auth credentials at {path}: {source}")]
pub struct CredentialsError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Where the credentials in use came from (logged at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialOrigin {
    /// The OpenFaaS secret files in this folder.
    SecretFiles(PathBuf),
    /// `FAAS_BASIC_AUTH_USER` / `FAAS_BASIC_AUTH_PASSWORD`.
    Environment,
    /// Generated on an earlier start; the password file is this one.
    Stored(PathBuf),
    /// Generated now; the password file is this one.
    Generated(PathBuf),
}

/// The accepted user and password, kept as SHA-256 digests so comparison takes the same
/// time whatever the lengths.
#[derive(Clone)]
pub struct Credentials {
    user: String,
    user_digest: [u8; 32],
    password_digest: [u8; 32],
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Credentials {
    /// Credentials for `user` with `password` (both trimmed, as OpenFaaS trims its files).
    pub fn new(user: &str, password: &str) -> Self {
        let user = user.trim();
        Self {
            user: user.to_owned(),
            user_digest: digest(user.as_bytes()),
            password_digest: digest(password.trim().as_bytes()),
        }
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether an `Authorization` header value carries these credentials. Constant time in
    /// the submitted user and password.
    pub fn check_header(&self, value: &[u8]) -> bool {
        let Some(encoded) = value
            .strip_prefix(b"Basic ")
            .or_else(|| value.strip_prefix(b"basic "))
            .or_else(|| value.strip_prefix(b"BASIC "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim_ascii())
        else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|b| *b == b':') else {
            return false;
        };
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let user_ok = digest(user).ct_eq(&self.user_digest);
        let password_ok = digest(password).ct_eq(&self.password_digest);
        (user_ok & password_ok).into()
    }

    /// Finds the credentials for `config` (see the module docs), generating and storing a
    /// password on the first start.
    pub fn load_or_generate(
        config: &GatewayConfig,
    ) -> Result<(Self, CredentialOrigin), CredentialsError> {
        if let Some(creds) = read_pair(&config.secret_mount_path)? {
            return Ok((
                creds,
                CredentialOrigin::SecretFiles(config.secret_mount_path.clone()),
            ));
        }
        if let Some(given) = &config.credentials {
            return Ok((
                Self::new(&given.user, &given.password),
                CredentialOrigin::Environment,
            ));
        }
        let dir = config.data_dir.join("gateway");
        let password_path = dir.join(PASSWORD_FILE);
        if let Some(creds) = read_pair(&dir)? {
            return Ok((creds, CredentialOrigin::Stored(password_path)));
        }
        let password: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        let io = |path: PathBuf| move |source| CredentialsError { path, source };
        create_private_dir(&dir).map_err(io(dir.clone()))?;
        write_private(&dir.join(USER_FILE), GENERATED_USER).map_err(io(dir.join(USER_FILE)))?;
        write_private(&password_path, &password).map_err(io(password_path.clone()))?;
        Ok((
            Self::new(GENERATED_USER, &password),
            CredentialOrigin::Generated(password_path),
        ))
    }
}

/// Reads `basic-auth-user` and `basic-auth-password` from `dir`; `None` when either is absent.
fn read_pair(dir: &Path) -> Result<Option<Credentials>, CredentialsError> {
    let read = |name: &str| -> Result<Option<String>, CredentialsError> {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(None),
            Err(source) => Err(CredentialsError { path, source }),
        }
    };
    match (read(USER_FILE)?, read(PASSWORD_FILE)?) {
        (Some(user), Some(password)) if !password.trim().is_empty() => {
            Ok(Some(Credentials::new(&user, &password)))
        }
        _ => Ok(None),
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {enc}").into_bytes()
    }

    #[test]
    fn checks_user_and_password() {
        let c = Credentials::new("admin", "s3cret\n");
        assert!(c.check_header(&header("admin", "s3cret")));
        assert!(!c.check_header(&header("admin", "s3cre")));
        assert!(!c.check_header(&header("root", "s3cret")));
        assert!(!c.check_header(b"Bearer abc"));
        assert!(!c.check_header(b"Basic !!!"));
        assert!(c.check_header(&header("admin", "s3cret")[..]));
    }

    #[test]
    fn generates_once_with_private_permissions_then_reuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = GatewayConfig {
            data_dir: dir.path().join("data"),
            secret_mount_path: dir.path().join("no-such-dir"),
            ..GatewayConfig::default()
        };
        let (first, origin) = Credentials::load_or_generate(&config).expect("generated");
        let CredentialOrigin::Generated(path) = origin else {
            panic!("expected generation, got {origin:?}")
        };
        let mode = std::fs::metadata(&path)
            .expect("password file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let password = std::fs::read_to_string(&path).expect("readable");
        assert!(password.trim().len() >= 24);
        assert!(first.check_header(&header("admin", password.trim())));
        let (second, origin) = Credentials::load_or_generate(&config).expect("stored");
        assert!(matches!(origin, CredentialOrigin::Stored(_)));
        assert!(second.check_header(&header("admin", password.trim())));
    }

    #[test]
    fn secret_files_win_over_everything() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(USER_FILE), "ops\n").expect("write");
        std::fs::write(dir.path().join(PASSWORD_FILE), " pw \n").expect("write");
        let config = GatewayConfig {
            data_dir: dir.path().join("data"),
            secret_mount_path: dir.path().to_owned(),
            credentials: Some(crate::config::GivenCredentials {
                user: "env".into(),
                password: "envpw".into(),
            }),
            ..GatewayConfig::default()
        };
        let (c, origin) = Credentials::load_or_generate(&config).expect("loaded");
        assert!(matches!(origin, CredentialOrigin::SecretFiles(_)));
        assert!(c.check_header(&header("ops", "pw")));
        assert!(!dir.path().join("data").exists(), "nothing generated");
    }
}
