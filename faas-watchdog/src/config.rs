//! [`WatchdogConfig`]: every setting of the watchdog, read from OpenFaaS environment variables.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

use crate::duration::parse_duration;
use crate::error::Error;

/// How requests reach the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One process per request; the request body streams to stdin and stdout streams back (the default).
    #[default]
    Streaming,
    /// As [`Mode::Streaming`], but the response is collected whole before it is sent, with a
    /// `Content-Length` and `X-Duration-Seconds`.
    Serializing,
    /// `fprocess` is started once and serves HTTP on `upstream_url`; every request is proxied to it.
    Http,
}

impl Mode {
    /// Parses the `mode` variable (`streaming`, `serializing`, `http`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "streaming" => Some(Self::Streaming),
            "serializing" => Some(Self::Serializing),
            "http" => Some(Self::Http),
            _ => None,
        }
    }
}

/// Every setting of a watchdog. Build it with [`WatchdogConfig::from_env`] (OpenFaaS variable names)
/// or start from [`Default`] and set the public fields.
#[derive(Clone)]
pub struct WatchdogConfig {
    /// `port` (8080): the port the binary listens on (the library serves on the listener it is given).
    pub port: u16,
    /// `bind_address` (0.0.0.0): the address the binary binds.
    pub bind_address: IpAddr,
    /// `mode` (`streaming`).
    pub mode: Mode,
    /// `fprocess` / `function_process`: the command line, split on spaces into argv (no shell).
    pub fprocess: String,
    /// `upstream_url` / `http_upstream_url`: where the http-mode process listens (`http://127.0.0.1:5000`).
    pub upstream_url: Option<Uri>,
    /// `read_timeout` (30s): the limit for reading a request's headers.
    pub read_timeout: Duration,
    /// `write_timeout` (30s): the drain deadline for in-flight calls at shutdown.
    pub write_timeout: Duration,
    /// `exec_timeout` (30s; zero = none): the hard limit of one invocation (504 when exceeded).
    pub exec_timeout: Duration,
    /// `healthcheck_interval` (= write_timeout): at shutdown, how long health reports 503 while
    /// requests are still accepted, so load balancers notice before the listener closes.
    pub healthcheck_interval: Duration,
    /// `max_inflight` (0 = unlimited): concurrent calls beyond this get 429.
    pub max_inflight: usize,
    /// `prefix_logs` (true): prefix function output lines with a timestamp and stream name.
    pub prefix_logs: bool,
    /// `content_type` (`application/octet-stream`): the response Content-Type in fork modes.
    pub content_type: String,
    /// The lock file written when ready (`$TMPDIR/.lock`, default `/tmp/.lock`); `None` when
    /// `suppress_lock=true`. Health is 200 only while ready and, if set, the file exists.
    pub lock_file: Option<PathBuf>,
    /// `log_buffer_size` (65536): longest captured output line; longer lines are split.
    pub log_buffer_size: usize,
    /// The environment given to the function process (the CGI `Http_*` variables are added in fork
    /// modes). [`WatchdogConfig::from_env`] puts every variable it was given here.
    pub function_env: Vec<(String, String)>,
}

impl std::fmt::Debug for WatchdogConfig {
    // function_env may hold secrets: print only its size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchdogConfig")
            .field("port", &self.port)
            .field("bind_address", &self.bind_address)
            .field("mode", &self.mode)
            .field("fprocess", &self.fprocess)
            .field("upstream_url", &self.upstream_url)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("exec_timeout", &self.exec_timeout)
            .field("healthcheck_interval", &self.healthcheck_interval)
            .field("max_inflight", &self.max_inflight)
            .field("prefix_logs", &self.prefix_logs)
            .field("content_type", &self.content_type)
            .field("lock_file", &self.lock_file)
            .field("log_buffer_size", &self.log_buffer_size)
            .field("function_env_len", &self.function_env.len())
            .finish()
    }
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        Self {
            port: 8080,
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            mode: Mode::Streaming,
            fprocess: String::new(),
            upstream_url: None,
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            exec_timeout: Duration::from_secs(30),
            healthcheck_interval: Duration::from_secs(30),
            max_inflight: 0,
            prefix_logs: true,
            content_type: "application/octet-stream".to_owned(),
            lock_file: Some(PathBuf::from("/tmp/.lock")),
            log_buffer_size: 64 * 1024,
            function_env: Vec::new(),
        }
    }
}

fn parse_bool(field: &'static str, text: &str) -> Result<bool, Error> {
    match text.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" | "" => Ok(false),
        other => Err(Error::config(field, format!("`{other}` is not a boolean"))),
    }
}

fn parse_dur(field: &'static str, text: &str) -> Result<Duration, Error> {
    parse_duration(text).ok_or_else(|| {
        Error::config(
            field,
            format!("`{text}` is neither whole seconds nor a duration like 1m5s or 500ms"),
        )
    })
}

impl WatchdogConfig {
    /// Reads the OpenFaaS watchdog variables from `vars` (for the binary: `std::env::vars()`).
    /// Every variable given also goes into [`WatchdogConfig::function_env`], as of-watchdog passes
    /// its whole environment to the function.
    pub fn from_env<I: IntoIterator<Item = (String, String)>>(vars: I) -> Result<Self, Error> {
        let mut cfg = Self::default();
        let function_env: Vec<(String, String)> = vars.into_iter().collect();
        let get = |key: &str| {
            function_env
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        if let Some(v) = get("port") {
            cfg.port = v
                .trim()
                .parse()
                .map_err(|_| Error::config("port", format!("`{v}` is not a port number")))?;
        }
        if let Some(v) = get("bind_address") {
            cfg.bind_address = v.trim().parse().map_err(|_| {
                Error::config("bind_address", format!("`{v}` is not an IP address"))
            })?;
        }
        if let Some(v) = get("mode") {
            cfg.mode = Mode::parse(v).ok_or_else(|| {
                Error::config(
                    "mode",
                    format!("`{v}` is not one of streaming, serializing, http"),
                )
            })?;
        }
        if let Some(v) = get("fprocess").or_else(|| get("function_process")) {
            cfg.fprocess = v.to_owned();
        }
        if let Some(v) = get("upstream_url").or_else(|| get("http_upstream_url")) {
            cfg.upstream_url = Some(parse_upstream(v)?);
        }
        if let Some(v) = get("read_timeout") {
            cfg.read_timeout = parse_dur("read_timeout", v)?;
        }
        if let Some(v) = get("write_timeout") {
            cfg.write_timeout = parse_dur("write_timeout", v)?;
        }
        cfg.healthcheck_interval = cfg.write_timeout;
        if let Some(v) = get("exec_timeout") {
            cfg.exec_timeout = parse_dur("exec_timeout", v)?;
        }
        if let Some(v) = get("healthcheck_interval") {
            cfg.healthcheck_interval = parse_dur("healthcheck_interval", v)?;
        }
        if let Some(v) = get("max_inflight") {
            cfg.max_inflight = v.trim().parse().map_err(|_| {
                Error::config("max_inflight", format!("`{v}` is not a whole number"))
            })?;
        }
        if let Some(v) = get("prefix_logs") {
            cfg.prefix_logs = parse_bool("prefix_logs", v)?;
        }
        if let Some(v) = get("content_type")
            && !v.is_empty()
        {
            cfg.content_type = v.to_owned();
        }
        if let Some(v) = get("log_buffer_size") {
            cfg.log_buffer_size = v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    Error::config("log_buffer_size", format!("`{v}` is not a positive number"))
                })?;
        }
        let suppress = match get("suppress_lock") {
            Some(v) => parse_bool("suppress_lock", v)?,
            None => false,
        };
        cfg.lock_file = if suppress {
            None
        } else {
            let dir = get("TMPDIR").filter(|d| !d.is_empty()).unwrap_or("/tmp");
            Some(PathBuf::from(dir).join(".lock"))
        };
        cfg.function_env = function_env;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks that the settings fit together (a command is set, http mode has an upstream,
    /// write_timeout is positive).
    pub fn validate(&self) -> Result<(), Error> {
        if self.argv().is_empty() {
            return Err(Error::config("fprocess", "no function process is set"));
        }
        if self.mode == Mode::Http && self.upstream_url.is_none() {
            return Err(Error::config(
                "upstream_url",
                "mode=http needs the URL the function listens on",
            ));
        }
        if self.write_timeout.is_zero() {
            return Err(Error::config("write_timeout", "must be greater than zero"));
        }
        Ok(())
    }

    /// `fprocess` split on spaces into program and arguments (empty pieces dropped).
    pub fn argv(&self) -> Vec<String> {
        self.fprocess
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Parses an `upstream_url`: it must be `http://host:port[/prefix]`.
pub(crate) fn parse_upstream(text: &str) -> Result<Uri, Error> {
    let uri: Uri = text
        .trim()
        .parse()
        .map_err(|e| Error::config("upstream_url", format!("`{text}`: {e}")))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(Error::config(
            "upstream_url",
            format!("`{text}` must look like http://127.0.0.1:5000"),
        ));
    }
    Ok(uri)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_of_watchdog_variables() {
        let cfg = WatchdogConfig::from_env(vars(&[
            ("function_process", "wc -c"),
            ("mode", "http"),
            ("http_upstream_url", "http://127.0.0.1:5000"),
            ("exec_timeout", "1m5s"),
            ("write_timeout", "10"),
            ("max_inflight", "3"),
            ("suppress_lock", "true"),
            ("prefix_logs", "false"),
            ("PATH", "/bin"),
        ]))
        .unwrap();
        assert_eq!(cfg.argv(), vec!["wc", "-c"]);
        assert_eq!(cfg.mode, Mode::Http);
        assert_eq!(cfg.exec_timeout, Duration::from_secs(65));
        assert_eq!(cfg.healthcheck_interval, Duration::from_secs(10));
        assert_eq!(cfg.max_inflight, 3);
        assert!(cfg.lock_file.is_none());
        assert!(!cfg.prefix_logs);
        assert!(cfg.function_env.iter().any(|(k, _)| k == "PATH"));
    }

    #[test]
    fn names_the_bad_field() {
        let err = WatchdogConfig::from_env(vars(&[("fprocess", "cat"), ("exec_timeout", "soon")]))
            .unwrap_err();
        assert!(err.to_string().contains("exec_timeout"), "{err}");
        let err = WatchdogConfig::from_env(vars(&[])).unwrap_err();
        assert!(err.to_string().contains("fprocess"), "{err}");
        let err =
            WatchdogConfig::from_env(vars(&[("fprocess", "x"), ("mode", "http")])).unwrap_err();
        assert!(err.to_string().contains("upstream_url"), "{err}");
    }
}
