//! [`LocalConfig`]: where the provider keeps its state and how it runs functions.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the local provider is set up. Built by the host (the gateway or the `faas-provider-local`
/// binary); the library never reads the environment itself.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalConfig {
    /// Where deployments, namespaces, encrypted secrets, logs and (unless
    /// [`LocalConfig::secrets_key_file`] is set) the secrets key live.
    pub data_dir: PathBuf,
    /// Where per-replica scratch directories (the private `/tmp`, and in the fallback mode the
    /// plaintext secret files) live. Default: `<data_dir>/run`.
    pub runtime_dir: PathBuf,
    /// The `PATH` functions get, and that `envProcess` commands are looked up in.
    pub function_path: String,
    /// Whether to try the isolated mode (mount namespace per function process, cgroup limits).
    /// When the OS refuses, the provider falls back regardless; `false` forces the fallback.
    pub isolation: bool,
    /// Lines kept in memory per function for `logs`.
    pub log_ring_lines: usize,
    /// Size at which a function's log file is rotated (one old file is kept).
    pub log_file_max_bytes: u64,
    /// Longest log line kept; longer lines are cut (the function is not affected).
    pub log_line_max_bytes: usize,
    /// The file holding the 256-bit key the secrets are encrypted with. `None` (the default,
    /// kept for backwards compatibility) means `<data_dir>/keys/secrets.key`, in a 0700
    /// directory; the file is 0600 either way and created on first start when missing.
    ///
    /// With the default, whoever copies or backs up the data directory also gets the key that
    /// decrypts its secrets. Operators who back up, copy or share the data directory should
    /// point this at a file elsewhere (another disk, a tmpfs filled from a secret manager, …)
    /// and back that file up separately. The provider refuses to start when the key does not
    /// decrypt the secrets already stored, or when the key file is missing although secrets
    /// exist (it never silently generates a new key over existing secrets).
    pub secrets_key_file: Option<PathBuf>,
    /// How long new replicas may take to become ready during an `update`. When they are not
    /// all ready by then the update is rolled back: the new replicas are stopped, the old
    /// ones keep serving, the previous spec stays recorded, and `update` fails with
    /// `ErrorKind::Timeout`. Default 30 s.
    pub ready_timeout: Duration,
    /// The highest replica count a scale request may ask for.
    pub replicas_max: u64,
    /// How long stopping a replica waits for in-flight calls before killing its processes.
    pub stop_timeout: Duration,
}

/// The `PATH` functions run with unless configured otherwise.
pub const DEFAULT_FUNCTION_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl LocalConfig {
    /// A config with every default, keeping state in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            runtime_dir: data_dir.join("run"),
            data_dir,
            function_path: DEFAULT_FUNCTION_PATH.to_owned(),
            isolation: true,
            log_ring_lines: 1000,
            log_file_max_bytes: 8 * 1024 * 1024,
            log_line_max_bytes: 256 * 1024,
            secrets_key_file: None,
            ready_timeout: Duration::from_secs(30),
            replicas_max: 20,
            stop_timeout: Duration::from_secs(5),
        }
    }

    /// The conventional data directory: `/var/lib/faas` for root, else
    /// `$XDG_DATA_HOME/faas` (pass the values in; the library reads no environment).
    pub fn default_data_dir(
        is_root: bool,
        xdg_data_home: Option<&Path>,
        home: Option<&Path>,
    ) -> PathBuf {
        if is_root {
            return PathBuf::from("/var/lib/faas");
        }
        match (xdg_data_home, home) {
            (Some(x), _) if x.is_absolute() => x.join("faas"),
            (_, Some(h)) => h.join(".local/share/faas"),
            _ => PathBuf::from("faas-data"),
        }
    }

    /// Sets the runtime directory.
    pub fn with_runtime_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.runtime_dir = dir.into();
        self
    }

    /// The secrets key file in use: [`LocalConfig::secrets_key_file`], or
    /// `<data_dir>/keys/secrets.key` when that is unset.
    pub fn secrets_key_path(&self) -> PathBuf {
        self.secrets_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys").join("secrets.key"))
    }

    /// Keeps the secrets key in `path` instead of `<data_dir>/keys/secrets.key` (see
    /// [`LocalConfig::secrets_key_file`]).
    pub fn with_secrets_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.secrets_key_file = Some(path.into());
        self
    }

    /// Sets how long new replicas may take to become ready during an update before it is
    /// rolled back (see [`LocalConfig::ready_timeout`]).
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Turns isolation on or off (off forces the documented fallback).
    pub fn with_isolation(mut self, isolation: bool) -> Self {
        self.isolation = isolation;
        self
    }

    /// Sets how long stopping a replica waits for in-flight calls.
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Sets how many log lines are kept in memory per function.
    pub fn with_log_ring_lines(mut self, lines: usize) -> Self {
        self.log_ring_lines = lines;
        self
    }

    /// Sets the log file rotation size.
    pub fn with_log_file_max_bytes(mut self, bytes: u64) -> Self {
        self.log_file_max_bytes = bytes;
        self
    }
}
