//! [`AsyncSettings`]: the async-invocation settings, and their flags ([`AsyncArgs`], flattened
//! into the gateway's command line) with environment fallbacks.

use std::time::Duration;

use crate::config::{ConfigError, Source, parse_bool, parse_duration};

/// Where async calls are queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSpec {
    /// The embedded on-disk queue in `<data-dir>/queue` (the default).
    Embedded,
    /// NATS JetStream at this `nats://host:port` URL.
    Nats(String),
    /// No async invocations: `/async-function/*` is not served.
    Off,
}

impl QueueSpec {
    /// Parses `embedded`, `nats://host:port` or `none`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "embedded" | "" => Ok(Self::Embedded),
            "none" | "off" => Ok(Self::Off),
            other if other.starts_with("nats://") && other.len() > "nats://".len() => {
                Ok(Self::Nats(other.to_owned()))
            }
            other => Err(format!(
                "unknown queue {other:?}: expected embedded, nats://host:port or none"
            )),
        }
    }
}

/// Every async-invocation setting of the gateway.
#[derive(Debug, Clone)]
pub struct AsyncSettings {
    /// The queue backend.
    pub queue: QueueSpec,
    /// JetStream stream name (consumer and dead-letter names derive from it).
    pub nats_stream: String,
    /// Named JetStream queues this gateway's worker consumes besides `default`: a function
    /// annotated `com.openfaas.queue: <name>` has its calls published to `<name>`, which only
    /// workers listing it consume (the embedded queue has one queue and ignores the annotation).
    pub nats_queues: Vec<String>,
    /// Largest body of an async call (413 above it).
    pub max_body_bytes: u64,
    /// Most calls held in the queue (503 with Retry-After above it).
    pub max_depth: u64,
    /// Whether this gateway runs the worker (off: enqueue only, another process works).
    pub worker: bool,
    /// Invocations at once in the worker.
    pub concurrency: usize,
    /// Invocations at once per function in the worker (0: no limit).
    pub function_concurrency: usize,
    /// Attempts per call (first try included) before it is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay (doubles per attempt, with jitter).
    pub backoff: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Hosts callbacks may go to (`host`, `host:port`, `*.domain`); empty allows any.
    pub callback_allowed_hosts: Vec<String>,
}

impl Default for AsyncSettings {
    fn default() -> Self {
        Self {
            queue: QueueSpec::Embedded,
            nats_stream: "faas-request".into(),
            nats_queues: Vec::new(),
            max_body_bytes: 1024 * 1024,
            max_depth: 100_000,
            worker: true,
            concurrency: 64,
            function_concurrency: 16,
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            callback_allowed_hosts: Vec::new(),
        }
    }
}

/// The async flags of the command line. Each falls back to the variable named in its help.
#[derive(Debug, Default, clap::Args)]
#[command(next_help_heading = "Async invocations (/async-function/*)")]
pub struct AsyncArgs {
    /// Queue for /async-function/*: embedded (on disk in <data-dir>/queue), nats://host:port
    /// (JetStream) or none [env: FAAS_QUEUE] [default: embedded]
    #[arg(long = "queue")]
    queue: Option<String>,
    /// JetStream stream name with --queue nats://… [env: FAAS_NATS_STREAM]
    /// [default: faas-request]
    #[arg(long)]
    nats_stream: Option<String>,
    /// Named JetStream queue this gateway's worker consumes besides "default" (functions pick
    /// one with the annotation com.openfaas.queue; repeat for more)
    /// [env: FAAS_NATS_QUEUES, comma-separated]
    #[arg(long = "nats-queue")]
    nats_queue: Vec<String>,
    /// Largest async request body in bytes (then 413) [env: FAAS_ASYNC_MAX_BODY_BYTES]
    /// [default: 1048576]
    #[arg(long)]
    async_max_body_bytes: Option<u64>,
    /// Most calls queued at once (then 503 with Retry-After) [env: FAAS_ASYNC_MAX_DEPTH]
    /// [default: 100000]
    #[arg(long)]
    async_max_depth: Option<u64>,
    /// Do not run the async worker in this process (enqueue only; run workers elsewhere)
    /// [env: FAAS_ASYNC_WORKER=false]
    #[arg(long)]
    no_async_worker: bool,
    /// Async invocations at once in this gateway's worker [env: FAAS_ASYNC_CONCURRENCY]
    /// [default: 64]
    #[arg(long)]
    async_concurrency: Option<usize>,
    /// Async invocations at once per function, 0 for no limit
    /// [env: FAAS_ASYNC_FUNCTION_CONCURRENCY] [default: 16]
    #[arg(long)]
    async_function_concurrency: Option<usize>,
    /// Attempts per async call (retrying 429/502/503/504 and connection errors) before it
    /// becomes a dead letter [env: FAAS_ASYNC_MAX_ATTEMPTS] [default: 5]
    #[arg(long)]
    async_max_attempts: Option<u32>,
    /// First retry delay, doubled per attempt with jitter [env: FAAS_ASYNC_BACKOFF]
    /// [default: 500ms]
    #[arg(long)]
    async_backoff: Option<String>,
    /// Longest retry delay [env: FAAS_ASYNC_BACKOFF_MAX] [default: 30s]
    #[arg(long)]
    async_backoff_max: Option<String>,
    /// Host X-Callback-Url may name (host, host:port or *.domain; repeat for more; none given:
    /// any host) [env: FAAS_CALLBACK_ALLOWED_HOSTS, comma-separated]
    #[arg(long = "callback-allow-host")]
    callback_allow_host: Vec<String>,
}

fn invalid(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        message: message.into(),
    }
}

fn number<T: std::str::FromStr>(
    flag: Option<T>,
    env: &dyn Source,
    name: &'static str,
    into: &mut T,
) -> Result<(), ConfigError> {
    if let Some(v) = flag {
        *into = v;
    } else if let Some(v) = env.get(name) {
        *into = v
            .trim()
            .parse()
            .map_err(|_| invalid(name, format!("{v:?} is not a number")))?;
    }
    Ok(())
}

fn duration(
    flag: Option<String>,
    env: &dyn Source,
    name: &'static str,
    into: &mut Duration,
) -> Result<(), ConfigError> {
    if let Some(v) = flag.or_else(|| env.get(name)) {
        *into =
            parse_duration(&v).ok_or_else(|| invalid(name, format!("{v:?} is not a duration")))?;
    }
    Ok(())
}

impl AsyncArgs {
    /// The settings: flag > environment > default.
    pub fn resolve(self, env: &dyn Source) -> Result<AsyncSettings, ConfigError> {
        let mut s = AsyncSettings::default();
        if let Some(v) = self.queue.or_else(|| env.get("FAAS_QUEUE")) {
            s.queue = QueueSpec::parse(&v).map_err(|m| invalid("FAAS_QUEUE", m))?;
        }
        if let Some(v) = self.nats_stream.or_else(|| env.get("FAAS_NATS_STREAM")) {
            let v = v.trim();
            let ok = !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(invalid(
                    "FAAS_NATS_STREAM",
                    format!("{v:?}: use letters, digits, '-' and '_'"),
                ));
            }
            s.nats_stream = v.to_owned();
        }
        let queues = if self.nats_queue.is_empty() {
            env.get("FAAS_NATS_QUEUES")
                .map(|v| split_list(&v))
                .unwrap_or_default()
        } else {
            self.nats_queue.iter().flat_map(|v| split_list(v)).collect()
        };
        for q in &queues {
            if !valid_queue_name(q) {
                return Err(invalid(
                    "FAAS_NATS_QUEUES",
                    format!("{q:?}: a queue name is 1-64 characters of A-Z, a-z, 0-9, '-' and '_'"),
                ));
            }
            if !s.nats_queues.contains(q) && q != faas_queue::nats::DEFAULT_QUEUE {
                s.nats_queues.push(q.clone());
            }
        }
        number(
            self.async_max_body_bytes,
            env,
            "FAAS_ASYNC_MAX_BODY_BYTES",
            &mut s.max_body_bytes,
        )?;
        number(
            self.async_max_depth,
            env,
            "FAAS_ASYNC_MAX_DEPTH",
            &mut s.max_depth,
        )?;
        if self.no_async_worker {
            s.worker = false;
        } else if let Some(v) = env.get("FAAS_ASYNC_WORKER") {
            s.worker = parse_bool(&v)
                .ok_or_else(|| invalid("FAAS_ASYNC_WORKER", format!("{v:?} is not a boolean")))?;
        }
        number(
            self.async_concurrency,
            env,
            "FAAS_ASYNC_CONCURRENCY",
            &mut s.concurrency,
        )?;
        if s.concurrency == 0 {
            return Err(invalid("FAAS_ASYNC_CONCURRENCY", "must be at least 1"));
        }
        number(
            self.async_function_concurrency,
            env,
            "FAAS_ASYNC_FUNCTION_CONCURRENCY",
            &mut s.function_concurrency,
        )?;
        number(
            self.async_max_attempts,
            env,
            "FAAS_ASYNC_MAX_ATTEMPTS",
            &mut s.max_attempts,
        )?;
        if s.max_attempts == 0 {
            return Err(invalid("FAAS_ASYNC_MAX_ATTEMPTS", "must be at least 1"));
        }
        duration(
            self.async_backoff,
            env,
            "FAAS_ASYNC_BACKOFF",
            &mut s.backoff,
        )?;
        duration(
            self.async_backoff_max,
            env,
            "FAAS_ASYNC_BACKOFF_MAX",
            &mut s.backoff_max,
        )?;
        s.callback_allowed_hosts = if self.callback_allow_host.is_empty() {
            env.get("FAAS_CALLBACK_ALLOWED_HOSTS")
                .map(|v| split_list(&v))
                .unwrap_or_default()
        } else {
            self.callback_allow_host
                .iter()
                .flat_map(|v| split_list(v))
                .collect()
        };
        Ok(s)
    }
}

/// The rule `faas_queue` applies to `com.openfaas.queue` values.
fn valid_queue_name(q: &str) -> bool {
    !q.is_empty()
        && q.len() <= 64
        && q.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        a: AsyncArgs,
    }

    fn load(
        args: &[&str],
        env: &[(&'static str, &'static str)],
    ) -> Result<AsyncSettings, ConfigError> {
        let env: HashMap<&str, &str> = env.iter().copied().collect();
        let cli = Cli::try_parse_from(std::iter::once("gw").chain(args.iter().copied()))?;
        cli.a.resolve(&env)
    }

    #[test]
    fn defaults_flags_and_environment() {
        let s = load(&[], &[]).expect("defaults");
        assert_eq!(s.queue, QueueSpec::Embedded);
        assert!(s.worker);
        assert_eq!(s.max_body_bytes, 1024 * 1024);
        let s = load(
            &[
                "--queue",
                "nats://127.0.0.1:4222",
                "--callback-allow-host",
                "a.test,b.test:9",
                "--nats-queue",
                "billing",
                "--nats-queue",
                "reports,billing,default",
            ],
            &[
                ("FAAS_QUEUE", "none"),
                ("FAAS_ASYNC_WORKER", "false"),
                ("FAAS_ASYNC_BACKOFF", "20ms"),
                ("FAAS_CALLBACK_ALLOWED_HOSTS", "ignored.test"),
            ],
        )
        .expect("parses");
        assert_eq!(s.queue, QueueSpec::Nats("nats://127.0.0.1:4222".into()));
        assert!(!s.worker);
        assert_eq!(s.backoff, Duration::from_millis(20));
        assert_eq!(s.callback_allowed_hosts, vec!["a.test", "b.test:9"]);
        assert_eq!(s.nats_queues, vec!["billing", "reports"]);
        let s = load(
            &[],
            &[
                ("FAAS_QUEUE", "none"),
                ("FAAS_CALLBACK_ALLOWED_HOSTS", "x.test, y.test"),
                ("FAAS_NATS_QUEUES", "slow, batch"),
            ],
        )
        .expect("parses");
        assert_eq!(s.queue, QueueSpec::Off);
        assert_eq!(s.callback_allowed_hosts, vec!["x.test", "y.test"]);
        assert_eq!(s.nats_queues, vec!["slow", "batch"]);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (env, name) in [
            (("FAAS_QUEUE", "redis://x"), "FAAS_QUEUE"),
            (("FAAS_ASYNC_MAX_ATTEMPTS", "0"), "FAAS_ASYNC_MAX_ATTEMPTS"),
            (("FAAS_ASYNC_BACKOFF", "soon"), "FAAS_ASYNC_BACKOFF"),
            (("FAAS_NATS_STREAM", "a.b"), "FAAS_NATS_STREAM"),
            (("FAAS_NATS_QUEUES", "ok,not.ok"), "FAAS_NATS_QUEUES"),
        ] {
            let err = load(&[], &[env]).expect_err("must fail");
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }
}
