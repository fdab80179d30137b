//! Async invocations: `/async-function/{name}[.{namespace}][/{path}]` answered `202 Accepted`
//! with `X-Call-Id` once the call is durably queued, a worker in the gateway process that runs
//! queued calls through the same proxy path as `/function/*` (resolve, balance, scale from
//! zero, metrics) and posts results to `X-Callback-Url`, and the dead-letter routes under
//! `/system/async/`.
//!
//! The queue itself (embedded redb file or NATS JetStream), the worker's retries, backoff,
//! callbacks and dead letters are the `faas_queue` crate's; this module wires them in.
//!
//! # Layout
//! - [`settings`]: [`AsyncSettings`], [`QueueSpec`] and the `--queue`/`--async-*` flags.
//! - [`enqueue`]: the `/async-function/*` handler.
//! - [`invoker`]: [`GatewayInvoker`], the worker's [`faas_queue::Invoker`] over the proxy.
//! - [`routes`]: [`QueueRoutes`], which named queue a function's calls go to.
//! - [`dead_letters`]: `/system/async/dead-letters` (list, replay, delete) and `/system/async/stats`.
//!
//! # Usage
//! ```no_run
//! # async fn demo(state: faas_gateway::AppState) -> Result<(), faas_queue::QueueError> {
//! // After building the state: open the configured queue and attach it; `serve` then starts
//! // the worker (unless `--no-async-worker`) and stops it on shutdown.
//! faas_gateway::queue::enable(&state).await?;
//! # Ok(()) }
//! ```

pub mod dead_letters;
pub mod enqueue;
pub mod invoker;
pub mod routes;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use faas_queue::{
    Backoff, CallbackPolicy, DynQueue, EmbeddedConfig, EmbeddedQueue, NatsConfig, NatsQueue,
    QueueError, Worker, WorkerConfig, WorkerHandle,
};

pub use invoker::GatewayInvoker;
pub use routes::QueueRoutes;
pub use settings::{AsyncArgs, AsyncSettings, QueueSpec};

use crate::config::GatewayConfig;
use crate::metrics::Metrics;
use crate::state::AppState;

/// The path prefix of asynchronous invocations.
pub const ASYNC_PREFIX: &str = "/async-function/";

/// The folder of the embedded queue inside the data directory.
pub const EMBEDDED_DIR: &str = "queue";

/// The queue as the gateway's handlers use it: the backend, the callback policy and the body
/// limit.
#[derive(Debug, Clone)]
pub struct AsyncQueue {
    queue: DynQueue,
    policy: CallbackPolicy,
    max_body_bytes: u64,
    routes: Option<Arc<QueueRoutes>>,
}

impl AsyncQueue {
    /// Wraps `queue` with the policy and limits of `settings`. On JetStream, calls are routed
    /// by each function's `com.openfaas.queue` annotation, looked up through the provider and
    /// kept for `route_ttl`; the embedded queue has a single queue and skips the lookup.
    pub fn new(queue: DynQueue, settings: &AsyncSettings, route_ttl: Duration) -> Self {
        let routes = matches!(settings.queue, QueueSpec::Nats(_))
            .then(|| Arc::new(QueueRoutes::new(route_ttl)));
        Self {
            queue,
            policy: CallbackPolicy::allow_hosts(settings.callback_allowed_hosts.iter().cloned()),
            max_body_bytes: settings.max_body_bytes,
            routes,
        }
    }

    /// The named-queue lookup, when the backend has named queues.
    pub fn routes(&self) -> Option<&QueueRoutes> {
        self.routes.as_deref()
    }

    /// The backend.
    pub fn queue(&self) -> &DynQueue {
        &self.queue
    }

    /// Which callback URLs are accepted.
    pub fn policy(&self) -> &CallbackPolicy {
        &self.policy
    }

    /// The largest async body accepted.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_bytes
    }
}

/// Opens the queue `config.queue` names, recording its metrics into `metrics`: the embedded
/// one in `<data-dir>/queue`, or a JetStream connection. `None` for `--queue none`.
pub async fn open(
    config: &GatewayConfig,
    metrics: &Metrics,
) -> Result<Option<DynQueue>, QueueError> {
    let s = &config.queue;
    let queue: DynQueue = match &s.queue {
        QueueSpec::Off => return Ok(None),
        QueueSpec::Embedded => {
            let dir = config.data_dir.join(EMBEDDED_DIR);
            let q = EmbeddedQueue::open(
                EmbeddedConfig::new(&dir)
                    .with_max_depth(s.max_depth)
                    .with_metrics(metrics.queue_sink()),
            )
            .await?;
            tracing::info!(dir = %dir.display(), "embedded async queue open");
            Arc::new(q)
        }
        QueueSpec::Nats(url) => {
            let mut nc = NatsConfig::new(url.as_str())
                .with_max_depth(i64::try_from(s.max_depth).unwrap_or(i64::MAX))
                .with_metrics(metrics.queue_sink());
            if s.nats_stream != nc.stream {
                nc = nc.with_names(&s.nats_stream);
            }
            let queues = std::iter::once(faas_queue::nats::DEFAULT_QUEUE.to_owned())
                .chain(s.nats_queues.iter().cloned());
            nc = nc.with_queues(queues);
            let q = NatsQueue::connect(nc).await?;
            tracing::info!(%url, stream = %s.nats_stream, queues = ?s.nats_queues, "NATS JetStream async queue connected");
            Arc::new(q)
        }
    };
    Ok(Some(queue))
}

/// Opens the configured queue and attaches it to `state`, so `/async-function/*` and the
/// dead-letter routes are served and [`crate::serve`] runs the worker. Does nothing for
/// `--queue none`.
pub async fn enable(state: &AppState) -> Result<(), QueueError> {
    if let Some(queue) = open(state.config(), state.metrics()).await? {
        let config = state.config();
        state.attach_queue(AsyncQueue::new(
            queue,
            &config.queue,
            config.endpoint_cache_ttl,
        ));
    }
    Ok(())
}

/// The worker settings of `settings`, recording into `metrics`.
pub fn worker_config(settings: &AsyncSettings, metrics: &Metrics) -> WorkerConfig {
    let mut w = WorkerConfig::default();
    w.concurrency = settings.concurrency.max(1);
    w.per_function_concurrency = settings.function_concurrency;
    w.max_attempts = settings.max_attempts.max(1);
    w.backoff = Backoff {
        initial: settings.backoff,
        max: settings.backoff_max.max(settings.backoff),
        ..Backoff::default()
    };
    w.callback_policy =
        CallbackPolicy::allow_hosts(settings.callback_allowed_hosts.iter().cloned());
    w.metrics = metrics.queue_sink();
    w
}

/// Starts the in-process worker over `state`'s queue, invoking through the gateway's proxy.
/// `None` when no queue is attached or the worker is switched off (`--no-async-worker`).
pub fn start_worker(state: &AppState) -> Result<Option<WorkerHandle>, QueueError> {
    let Some(aq) = state.async_queue() else {
        return Ok(None);
    };
    if !state.config().queue.worker {
        tracing::info!("async worker off in this gateway: calls are only enqueued");
        return Ok(None);
    }
    let config = worker_config(&state.config().queue, state.metrics());
    tracing::info!(
        backend = aq.queue().backend(),
        concurrency = config.concurrency,
        per_function = config.per_function_concurrency,
        max_attempts = config.max_attempts,
        "async worker started"
    );
    let invoker = Arc::new(GatewayInvoker::new(state.clone()));
    Ok(Some(
        Worker::new(aq.queue().clone(), invoker, config)?.spawn(),
    ))
}
