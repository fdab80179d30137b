//! `faas-queue-worker`: runs async calls from a queue against a gateway.
//!
//! With `--backend nats` (the usual standalone use) it consumes the JetStream queues that any
//! number of gateways publish to. With `--backend embedded` it owns the queue file in
//! `--data-dir`; add `--listen` to also accept calls on `/async-function/...` (a single-node
//! async tier, also what the crash tests kill). With `--listen`, the bound address is printed
//! on stdout as `listening on <addr>`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use faas_queue::front::{self, FrontConfig};
use faas_queue::{
    Backoff, CallbackPolicy, DynQueue, EmbeddedConfig, EmbeddedQueue, HttpInvoker, NatsConfig,
    NatsQueue, Worker, WorkerConfig,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Backend {
    Embedded,
    Nats,
}

/// Runs queued async calls through a gateway and posts their callbacks.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Gateway base URL; calls go to <gateway>/function/<name>.<namespace><path>.
    #[arg(long, env = "FAAS_GATEWAY_URL")]
    gateway: String,
    /// Queue backend.
    #[arg(long, value_enum, default_value = "nats", env = "FAAS_QUEUE_BACKEND")]
    backend: Backend,
    /// NATS server URL (nats backend).
    #[arg(long, default_value = "nats://127.0.0.1:4222", env = "FAAS_NATS_URL")]
    nats_url: String,
    /// Stream/subject/consumer name base (nats backend).
    #[arg(long, default_value = "faas-request")]
    stream: String,
    /// Queues to consume (nats backend; repeatable).
    #[arg(long = "queue", default_value = "default")]
    queues: Vec<String>,
    /// Data directory (embedded backend).
    #[arg(long, env = "FAAS_DATA_DIR", default_value = "./data")]
    data_dir: std::path::PathBuf,
    /// Most calls held in the queue.
    #[arg(long, default_value_t = 100_000)]
    max_depth: u64,
    /// Also accept calls on /async-function/... at this address (e.g. 127.0.0.1:0).
    #[arg(long)]
    listen: Option<String>,
    /// Invocations at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Invocations at once per function (0: no limit).
    #[arg(long, default_value_t = 16)]
    per_function_concurrency: usize,
    /// Attempts per call before it is dead-lettered.
    #[arg(long, default_value_t = 5)]
    max_attempts: u32,
    /// First retry delay in milliseconds (doubles per attempt, with jitter).
    #[arg(long, default_value_t = 500)]
    retry_initial_ms: u64,
    /// Longest retry delay in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    retry_max_ms: u64,
    /// Timeout of one invocation in seconds.
    #[arg(long, default_value_t = 60)]
    invoke_timeout_secs: u64,
    /// Lease (visibility timeout / ack wait) in seconds.
    #[arg(long, default_value_t = 60)]
    lease_secs: u64,
    /// Allowed callback hosts (`host`, `host:port`, `*.domain`; repeatable; none: any).
    #[arg(long = "callback-allow-host")]
    callback_allow_hosts: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let lease = Duration::from_secs(args.lease_secs.max(1));
    let queue: DynQueue = match args.backend {
        Backend::Embedded => Arc::new(
            EmbeddedQueue::open(
                EmbeddedConfig::new(&args.data_dir)
                    .with_max_depth(args.max_depth)
                    .with_visibility_timeout(lease),
            )
            .await
            .context("opening the embedded queue")?,
        ),
        Backend::Nats => Arc::new(
            NatsQueue::connect(
                NatsConfig::new(&args.nats_url)
                    .with_names(&args.stream)
                    .with_queues(args.queues.clone())
                    .with_ack_wait(lease)
                    .with_max_depth(i64::try_from(args.max_depth).unwrap_or(i64::MAX)),
            )
            .await
            .context("connecting to NATS")?,
        ),
    };
    let policy = CallbackPolicy::allow_hosts(args.callback_allow_hosts.clone());
    let mut config = WorkerConfig::default();
    config.concurrency = args.concurrency;
    config.per_function_concurrency = args.per_function_concurrency;
    config.max_attempts = args.max_attempts;
    config.backoff = Backoff {
        initial: Duration::from_millis(args.retry_initial_ms),
        max: Duration::from_millis(args.retry_max_ms),
        ..Backoff::default()
    };
    config.callback_policy = policy.clone();
    config.lease_refresh = lease / 3;
    let invoker = Arc::new(HttpInvoker::new(
        &args.gateway,
        Duration::from_secs(args.invoke_timeout_secs),
    )?);
    if let Some(addr) = &args.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        println!("listening on {}", listener.local_addr()?);
        let mut front_config = FrontConfig::default();
        front_config.callback_policy = policy;
        tokio::spawn(front::serve(listener, queue.clone(), front_config));
    }
    let worker = Worker::new(queue, invoker, config)?;
    tracing::info!(backend = ?args.backend, gateway = %args.gateway, "faas-queue-worker running");
    worker
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}
