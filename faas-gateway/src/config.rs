//! [`GatewayConfig`]: every setting of the gateway, from flags with environment fallbacks.
//!
//! Precedence is flag > environment > default. The environment is read through the
//! [`Source`] trait so tests can pass a `HashMap` and only `main.rs` touches the process
//! environment. OpenFaaS's own variable names are used where one exists (`read_timeout`,
//! `write_timeout`, `upstream_timeout`, `function_namespace`, `secret_mount_path`,
//! `basic_auth`); our own settings use the `FAAS_` prefix.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Where environment values come from: the process environment in `main.rs`, a map in tests.
pub trait Source {
    /// The value of `name`, if set (and valid UTF-8).
    fn get(&self, name: &str) -> Option<String>;
}

impl Source for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Source for HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|v| (*v).to_owned())
    }
}

/// A configuration value that could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line did not parse (also used for `--help` and `--version`, which clap
    /// renders itself).
    #[error(transparent)]
    Args(#[from] clap::Error),
    /// A flag or environment variable holds a value of the wrong shape.
    #[error("{name}: {message}")]
    Invalid {
        /// The flag or variable name.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// Which backend runs the functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSpec {
    /// The embedded local-process provider (the default), state in the data directory.
    Local,
    /// The in-process reference provider (state lost at exit): for demos and tests.
    Memory,
    /// A remote provider speaking our gRPC protocol at this `http://host:port` URL.
    Grpc(String),
    /// Docker Swarm services through the engine API ([`GatewayConfig::docker`] says where and
    /// how); needs the `docker` Cargo feature.
    Docker,
}

impl ProviderSpec {
    /// Parses `local`, `memory`, `docker` or `grpc://host:port`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "local" | "" => Ok(Self::Local),
            "memory" => Ok(Self::Memory),
            "docker" => Ok(Self::Docker),
            other => match other.strip_prefix("grpc://") {
                Some(rest) if !rest.is_empty() => Ok(Self::Grpc(format!("http://{rest}"))),
                _ => Err(format!(
                    "unknown provider {other:?}: expected local, memory, docker or grpc://host:port"
                )),
            },
        }
    }
}

/// Basic-auth credentials given directly (flags or environment).
#[derive(Clone, PartialEq, Eq)]
pub struct GivenCredentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for GivenCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GivenCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Settings of the Docker Swarm provider (`--provider docker`), as variables in the names
/// `faas_provider_docker::DockerConfig::from_lookup` reads (`DOCKER_HOST`, `FAAS_DOCKER_*`):
/// flags are stored under their variable's name, so one lookup serves both.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DockerSettings {
    vars: BTreeMap<String, String>,
}

/// The variables [`DockerSettings`] takes from the environment.
pub const DOCKER_VARIABLES: &[&str] = &[
    "DOCKER_HOST",
    "FAAS_DOCKER_NETWORK",
    "FAAS_DOCKER_RESOLVE",
    "FAAS_DOCKER_LABEL_PREFIX",
    "FAAS_DOCKER_DEFAULT_NAMESPACE",
    "FAAS_DOCKER_REGISTRY_USER",
    "FAAS_DOCKER_REGISTRY_PASSWORD",
    "FAAS_DOCKER_REGISTRY_SERVER",
];

impl DockerSettings {
    /// The value of variable `name` (a flag given for it, else the environment's).
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// Sets variable `name`, as its flag does.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.insert(name.to_owned(), value.into());
    }
}

impl fmt::Debug for DockerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.vars {
            if k.contains("PASSWORD") {
                map.entry(k, &"<redacted>");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

/// Every setting of the gateway. Build it with [`GatewayConfig::load`] or start from
/// [`GatewayConfig::default`] in tests.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Where the gateway (and the local provider) keep state.
    pub data_dir: PathBuf,
    /// The backend.
    pub provider: ProviderSpec,
    /// Whether `/system/*` needs basic auth.
    pub basic_auth: bool,
    /// The folder holding `basic-auth-user` and `basic-auth-password` files.
    pub secret_mount_path: PathBuf,
    /// Credentials given through the environment, used when the secret files are absent.
    pub credentials: Option<GivenCredentials>,
    /// How long a client may take to send the request headers.
    pub read_timeout: Duration,
    /// How long a control-plane handler may take to produce its response.
    pub write_timeout: Duration,
    /// How long a function may take to answer with its response headers (504 after that).
    pub upstream_timeout: Duration,
    /// The namespace used for `/function/{name}` without `.namespace`; empty means the
    /// provider's default.
    pub function_namespace: String,
    /// The largest request body accepted (413 above it).
    pub max_body_bytes: u64,
    /// The largest request head (request line and headers) accepted.
    pub max_header_bytes: usize,
    /// How long a call to a function at zero replicas waits for a ready replica (503 after).
    pub scale_from_zero_timeout: Duration,
    /// How long resolved endpoints stay cached.
    pub endpoint_cache_ttl: Duration,
    /// Connections to function replicas: connect timeout, idle timeout, idle kept per
    /// replica.
    pub upstream_pool: crate::upstream::PoolSettings,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Log as JSON lines instead of text.
    pub log_json: bool,
    /// Async invocations (`/async-function/*`): queue, limits and worker.
    pub queue: crate::queue::AsyncSettings,
    /// Settings of the Docker provider (used with [`ProviderSpec::Docker`]).
    pub docker: DockerSettings,
    /// The local provider's secrets key file; `None`: `<data_dir>/keys/secrets.key` (see
    /// `faas_provider_local::LocalConfig::secrets_key_file`).
    pub secrets_key_file: Option<PathBuf>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("faas-data"),
            provider: ProviderSpec::Local,
            basic_auth: true,
            secret_mount_path: PathBuf::from("/run/secrets"),
            credentials: None,
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            upstream_timeout: Duration::from_secs(60),
            function_namespace: String::new(),
            max_body_bytes: 64 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            scale_from_zero_timeout: Duration::from_secs(30),
            endpoint_cache_ttl: Duration::from_millis(1000),
            upstream_pool: crate::upstream::PoolSettings::default(),
            shutdown_timeout: Duration::from_secs(10),
            log_json: false,
            queue: crate::queue::AsyncSettings::default(),
            docker: DockerSettings::default(),
            secrets_key_file: None,
        }
    }
}

/// The command line. Every flag falls back to the environment variable named in its help.
#[derive(Debug, Parser)]
#[command(
    name = "faas-gateway",
    version,
    about = "An OpenFaaS-compatible gateway: deploy functions with faas-cli or curl, invoke them at /function/<name>.",
    after_help = "Durations accept integer seconds (\"30\") or Go durations (\"1m5s\", \"500ms\").\n\
                  Basic auth credentials: <secret_mount_path>/basic-auth-user and basic-auth-password, else \
                  FAAS_BASIC_AUTH_USER / FAAS_BASIC_AUTH_PASSWORD, else a password generated on first start \
                  and stored in <data-dir>/gateway/basic-auth-password (user: admin).\n\
                  --provider docker also reads FAAS_DOCKER_LABEL_PREFIX, FAAS_DOCKER_DEFAULT_NAMESPACE and \
                  FAAS_DOCKER_REGISTRY_USER / FAAS_DOCKER_REGISTRY_PASSWORD / FAAS_DOCKER_REGISTRY_SERVER \
                  (credentials for private images)."
)]
struct Cli {
    /// Address to listen on [env: FAAS_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long)]
    listen: Option<String>,
    /// Directory for state and generated credentials [env: FAAS_DATA_DIR]
    /// [default: $XDG_DATA_HOME/faas-rs or ~/.local/share/faas-rs]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Backend: local, memory, docker or grpc://host:port [env: FAAS_PROVIDER] [default: local]
    #[arg(long)]
    provider: Option<String>,
    /// Docker engine for --provider docker: unix:///path or tcp://host:port [env: DOCKER_HOST]
    /// [default: unix:///var/run/docker.sock]
    #[arg(long)]
    docker_host: Option<String>,
    /// Overlay network Docker functions attach to (created when missing)
    /// [env: FAAS_DOCKER_NETWORK] [default: func_functions]
    #[arg(long)]
    docker_network: Option<String>,
    /// How Docker functions are reached: published (each replica's port 8080 published on a
    /// host port, called on 127.0.0.1; gateway on the Swarm node) or dns (`<service>:8080`;
    /// gateway attached to the function network) [env: FAAS_DOCKER_RESOLVE] [default: published]
    #[arg(long)]
    docker_resolve: Option<String>,
    /// Serve /system/* WITHOUT authentication (logs a warning at every start)
    /// [env: basic_auth=false]
    #[arg(long)]
    no_auth: bool,
    /// Folder with basic-auth-user and basic-auth-password files [env: secret_mount_path]
    /// [default: /run/secrets]
    #[arg(long)]
    secret_mount_path: Option<PathBuf>,
    /// Time allowed to read request headers [env: read_timeout] [default: 60s]
    #[arg(long)]
    read_timeout: Option<String>,
    /// Time allowed for a control-plane response [env: write_timeout] [default: 60s]
    #[arg(long)]
    write_timeout: Option<String>,
    /// Time a function may take to answer (then 504) [env: upstream_timeout] [default: 60s]
    #[arg(long)]
    upstream_timeout: Option<String>,
    /// Namespace for /function/<name> without ".<namespace>" [env: function_namespace]
    /// [default: the provider's default namespace]
    #[arg(long)]
    function_namespace: Option<String>,
    /// Largest request body in bytes (then 413) [env: FAAS_MAX_BODY_BYTES] [default: 67108864]
    #[arg(long)]
    max_body_bytes: Option<u64>,
    /// Largest request head in bytes, at least 8192 [env: FAAS_MAX_HEADER_BYTES] [default: 65536]
    #[arg(long)]
    max_header_bytes: Option<usize>,
    /// Time a call waits for a function scaled to zero to become ready (then 503)
    /// [env: FAAS_SCALE_FROM_ZERO_TIMEOUT] [default: 30s]
    #[arg(long)]
    scale_from_zero_timeout: Option<String>,
    /// How long resolved function endpoints are cached [env: FAAS_ENDPOINT_CACHE_TTL] [default: 1s]
    #[arg(long)]
    endpoint_cache_ttl: Option<String>,
    /// Time allowed to open a connection to a function replica (then 502)
    /// [env: FAAS_UPSTREAM_CONNECT_TIMEOUT] [default: 5s]
    #[arg(long)]
    upstream_connect_timeout: Option<String>,
    /// Idle kept-alive connections to a replica older than this are closed; keep it below
    /// the functions' own idle timeout [env: FAAS_UPSTREAM_IDLE_TIMEOUT] [default: 4s]
    #[arg(long)]
    upstream_idle_timeout: Option<String>,
    /// Idle kept-alive connections kept per replica; 0 keeps none
    /// [env: max_idle_conns_per_host] [default: 1024]
    #[arg(long)]
    max_idle_conns_per_host: Option<usize>,
    /// Time in-flight requests get to finish on SIGTERM/SIGINT [env: FAAS_SHUTDOWN_TIMEOUT]
    /// [default: 10s]
    #[arg(long)]
    shutdown_timeout: Option<String>,
    /// Secrets key of the local provider; keep it outside the data directory when that is
    /// backed up or copied [env: FAAS_SECRETS_KEY_FILE] [default: <data-dir>/keys/secrets.key]
    #[arg(long)]
    secrets_key_file: Option<PathBuf>,
    /// Log JSON lines instead of text [env: FAAS_LOG_FORMAT=json]
    #[arg(long)]
    log_json: bool,
    #[command(flatten)]
    async_args: crate::queue::AsyncArgs,
}

impl GatewayConfig {
    /// Builds the configuration from command-line `args` (the first is the program name) and
    /// an environment `env`.
    pub fn load<I, T>(args: I, env: &dyn Source) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        let mut c = GatewayConfig::default();

        if let Some(v) = cli.listen.or_else(|| env.get("FAAS_LISTEN")) {
            c.listen = v
                .trim()
                .parse()
                .map_err(|e| invalid("FAAS_LISTEN", format!("{v:?}: {e}")))?;
        }
        c.data_dir = match cli
            .data_dir
            .or_else(|| env.get("FAAS_DATA_DIR").map(PathBuf::from))
        {
            Some(dir) => dir,
            None => default_data_dir(env),
        };
        if let Some(v) = cli.provider.or_else(|| env.get("FAAS_PROVIDER")) {
            c.provider = ProviderSpec::parse(&v).map_err(|m| invalid("FAAS_PROVIDER", m))?;
        }
        if cli.no_auth {
            c.basic_auth = false;
        } else if let Some(v) = env.get("basic_auth") {
            c.basic_auth = parse_bool(&v)
                .ok_or_else(|| invalid("basic_auth", format!("{v:?} is not a boolean")))?;
        }
        if let Some(v) = cli
            .secret_mount_path
            .or_else(|| env.get("secret_mount_path").map(PathBuf::from))
        {
            c.secret_mount_path = v;
        }
        if let (Some(user), Some(password)) = (
            env.get("FAAS_BASIC_AUTH_USER"),
            env.get("FAAS_BASIC_AUTH_PASSWORD"),
        ) {
            c.credentials = Some(GivenCredentials { user, password });
        }
        let dur = |flag: Option<String>,
                   name: &'static str,
                   into: &mut Duration|
         -> Result<(), ConfigError> {
            if let Some(v) = flag.or_else(|| env.get(name)) {
                *into = parse_duration(&v)
                    .ok_or_else(|| invalid(name, format!("{v:?} is not a duration")))?;
            }
            Ok(())
        };
        dur(cli.read_timeout, "read_timeout", &mut c.read_timeout)?;
        dur(cli.write_timeout, "write_timeout", &mut c.write_timeout)?;
        dur(
            cli.upstream_timeout,
            "upstream_timeout",
            &mut c.upstream_timeout,
        )?;
        dur(
            cli.scale_from_zero_timeout,
            "FAAS_SCALE_FROM_ZERO_TIMEOUT",
            &mut c.scale_from_zero_timeout,
        )?;
        dur(
            cli.endpoint_cache_ttl,
            "FAAS_ENDPOINT_CACHE_TTL",
            &mut c.endpoint_cache_ttl,
        )?;
        dur(
            cli.shutdown_timeout,
            "FAAS_SHUTDOWN_TIMEOUT",
            &mut c.shutdown_timeout,
        )?;
        dur(
            cli.upstream_connect_timeout,
            "FAAS_UPSTREAM_CONNECT_TIMEOUT",
            &mut c.upstream_pool.connect_timeout,
        )?;
        dur(
            cli.upstream_idle_timeout,
            "FAAS_UPSTREAM_IDLE_TIMEOUT",
            &mut c.upstream_pool.idle_timeout,
        )?;
        for (name, value) in [
            (
                "FAAS_UPSTREAM_CONNECT_TIMEOUT",
                c.upstream_pool.connect_timeout,
            ),
            ("FAAS_UPSTREAM_IDLE_TIMEOUT", c.upstream_pool.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(name, "must be more than 0"));
            }
        }
        if let Some(v) = cli
            .max_idle_conns_per_host
            .map(|n| n.to_string())
            .or_else(|| env.get("max_idle_conns_per_host"))
        {
            c.upstream_pool.max_idle = v.trim().parse().map_err(|_| {
                invalid(
                    "max_idle_conns_per_host",
                    format!("{v:?} is not a connection count"),
                )
            })?;
        }
        if let Some(v) = cli
            .function_namespace
            .or_else(|| env.get("function_namespace"))
        {
            c.function_namespace = v.trim().to_owned();
        }
        if let Some(v) = cli
            .max_body_bytes
            .map(|n| n.to_string())
            .or_else(|| env.get("FAAS_MAX_BODY_BYTES"))
        {
            c.max_body_bytes = v.trim().parse().map_err(|_| {
                invalid("FAAS_MAX_BODY_BYTES", format!("{v:?} is not a byte count"))
            })?;
        }
        if let Some(v) = cli
            .max_header_bytes
            .map(|n| n.to_string())
            .or_else(|| env.get("FAAS_MAX_HEADER_BYTES"))
        {
            let n: usize = v.trim().parse().map_err(|_| {
                invalid(
                    "FAAS_MAX_HEADER_BYTES",
                    format!("{v:?} is not a byte count"),
                )
            })?;
            if n < 8192 {
                return Err(invalid(
                    "FAAS_MAX_HEADER_BYTES",
                    format!("{n} is below the minimum of 8192"),
                ));
            }
            c.max_header_bytes = n;
        }
        for name in DOCKER_VARIABLES {
            if let Some(v) = env.get(name).filter(|v| !v.trim().is_empty()) {
                c.docker.set(name, v.trim());
            }
        }
        for (flag, name) in [
            (cli.docker_host, "DOCKER_HOST"),
            (cli.docker_network, "FAAS_DOCKER_NETWORK"),
            (cli.docker_resolve, "FAAS_DOCKER_RESOLVE"),
        ] {
            if let Some(v) = flag {
                c.docker.set(name, v.trim());
            }
        }
        if let Some(v) = c.docker.get("FAAS_DOCKER_RESOLVE")
            && v != "published"
            && v != "dns"
        {
            return Err(invalid(
                "FAAS_DOCKER_RESOLVE",
                format!("{v:?} is not one of: published, dns"),
            ));
        }
        c.secrets_key_file = cli.secrets_key_file.or_else(|| {
            env.get("FAAS_SECRETS_KEY_FILE")
                .filter(|v| !v.trim().is_empty())
                .map(PathBuf::from)
        });
        c.queue = cli.async_args.resolve(env)?;
        c.log_json = cli.log_json
            || env
                .get("FAAS_LOG_FORMAT")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("json"));
        Ok(c)
    }
}

fn invalid(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        message: message.into(),
    }
}

fn default_data_dir(env: &dyn Source) -> PathBuf {
    if let Some(xdg) = env.get("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("faas-rs");
    }
    match env.get("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/faas-rs"),
        None => PathBuf::from("faas-data"),
    }
}

/// Parses a boolean the way Go's `strconv.ParseBool` does.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Parses a duration as OpenFaaS does: integer seconds (`"30"`) or a Go duration
/// (`"1m5s"`, `"1.5h"`, `"300ms"`, `"2us"`, `"10ns"`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn durations_parse_as_openfaas_does() {
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m5s"), Some(Duration::from_secs(65)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2us"), Some(Duration::from_micros(2)));
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn flags_beat_environment_beats_defaults() {
        let e = env(&[
            ("FAAS_LISTEN", "127.0.0.1:9000"),
            ("upstream_timeout", "1m"),
            ("read_timeout", "5"),
            ("basic_auth", "false"),
            ("FAAS_PROVIDER", "memory"),
            ("HOME", "/home/u"),
        ]);
        let c = GatewayConfig::load(
            ["gw", "--listen", "127.0.0.1:9001", "--read-timeout", "2s"],
            &e,
        )
        .expect("config parses");
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.read_timeout, Duration::from_secs(2));
        assert_eq!(c.upstream_timeout, Duration::from_secs(60));
        assert!(!c.basic_auth);
        assert_eq!(c.provider, ProviderSpec::Memory);
        assert_eq!(c.data_dir, PathBuf::from("/home/u/.local/share/faas-rs"));
        assert_eq!(c.write_timeout, Duration::from_secs(60));
    }

    #[test]
    fn secrets_key_file_comes_from_the_flag_then_the_environment() {
        let c = GatewayConfig::load(["gw"], &env(&[])).expect("config parses");
        assert_eq!(c.secrets_key_file, None);
        let e = env(&[("FAAS_SECRETS_KEY_FILE", "/etc/faas/env.key")]);
        let c = GatewayConfig::load(["gw"], &e).expect("config parses");
        assert_eq!(c.secrets_key_file, Some(PathBuf::from("/etc/faas/env.key")));
        let c = GatewayConfig::load(["gw", "--secrets-key-file", "/k/flag.key"], &e)
            .expect("config parses");
        assert_eq!(c.secrets_key_file, Some(PathBuf::from("/k/flag.key")));
    }

    #[test]
    fn auth_is_on_unless_disabled_explicitly() {
        let c = GatewayConfig::load(["gw"], &env(&[])).expect("config parses");
        assert!(c.basic_auth);
        assert_eq!(c.provider, ProviderSpec::Local);
        let c = GatewayConfig::load(["gw", "--no-auth"], &env(&[])).expect("config parses");
        assert!(!c.basic_auth);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = GatewayConfig::load(["gw"], &env(&[("upstream_timeout", "soon")]))
            .expect_err("must fail");
        assert!(err.to_string().starts_with("upstream_timeout:"), "{err}");
        let err =
            GatewayConfig::load(["gw", "--provider", "ftp://x"], &env(&[])).expect_err("must fail");
        assert!(err.to_string().starts_with("FAAS_PROVIDER:"), "{err}");
        assert_eq!(
            ProviderSpec::parse("grpc://127.0.0.1:50051"),
            Ok(ProviderSpec::Grpc("http://127.0.0.1:50051".into()))
        );
    }

    #[test]
    fn docker_settings_come_from_flags_then_environment() {
        let e = env(&[
            ("DOCKER_HOST", "unix:///env.sock"),
            ("FAAS_DOCKER_NETWORK", "env_net"),
            ("FAAS_DOCKER_REGISTRY_PASSWORD", "hunter2"),
        ]);
        let c = GatewayConfig::load(
            [
                "gw",
                "--provider",
                "docker",
                "--docker-network",
                "flag_net",
                "--docker-resolve",
                "dns",
            ],
            &e,
        )
        .expect("config parses");
        assert_eq!(c.provider, ProviderSpec::Docker);
        assert_eq!(
            c.docker.get("DOCKER_HOST").as_deref(),
            Some("unix:///env.sock")
        );
        assert_eq!(
            c.docker.get("FAAS_DOCKER_NETWORK").as_deref(),
            Some("flag_net")
        );
        assert_eq!(c.docker.get("FAAS_DOCKER_RESOLVE").as_deref(), Some("dns"));
        assert!(!format!("{c:?}").contains("hunter2"));
        let err = GatewayConfig::load(["gw", "--docker-resolve", "mesh"], &env(&[]))
            .expect_err("must fail");
        assert!(err.to_string().starts_with("FAAS_DOCKER_RESOLVE:"), "{err}");
    }

    #[test]
    fn upstream_pool_settings_come_from_flags_then_environment() {
        let c = GatewayConfig::load(["gw"], &env(&[])).expect("config parses");
        assert_eq!(c.upstream_pool.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.upstream_pool.idle_timeout, Duration::from_secs(4));
        assert_eq!(c.upstream_pool.max_idle, 1024);
        let e = env(&[
            ("FAAS_UPSTREAM_CONNECT_TIMEOUT", "2"),
            ("FAAS_UPSTREAM_IDLE_TIMEOUT", "1m"),
            ("max_idle_conns_per_host", "0"),
        ]);
        let c = GatewayConfig::load(["gw", "--upstream-idle-timeout", "90s"], &e)
            .expect("config parses");
        assert_eq!(c.upstream_pool.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.upstream_pool.idle_timeout, Duration::from_secs(90));
        assert_eq!(c.upstream_pool.max_idle, 0, "0 keeps no idle connection");
        for (name, bad) in [
            ("FAAS_UPSTREAM_CONNECT_TIMEOUT", "0"),
            ("FAAS_UPSTREAM_IDLE_TIMEOUT", "0s"),
            ("FAAS_UPSTREAM_IDLE_TIMEOUT", "later"),
            ("max_idle_conns_per_host", "-1"),
            ("max_idle_conns_per_host", "many"),
        ] {
            let err = GatewayConfig::load(["gw"], &env(&[(name, bad)])).expect_err(bad);
            assert!(err.to_string().starts_with(&format!("{name}:")), "{err}");
        }
    }

    #[test]
    fn credentials_from_environment_are_redacted_in_debug() {
        let e = env(&[
            ("FAAS_BASIC_AUTH_USER", "me"),
            ("FAAS_BASIC_AUTH_PASSWORD", "hunter2"),
        ]);
        let c = GatewayConfig::load(["gw"], &e).expect("config parses");
        let dbg = format!("{c:?}");
        assert!(dbg.contains("me") && !dbg.contains("hunter2"), "{dbg}");
    }
}
