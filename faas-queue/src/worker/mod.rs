//! The worker: fetches leased calls, invokes them, retries, posts callbacks, settles leases.
//!
//! Per delivery:
//! 1. If `attempt > max_attempts` (a call redelivered too often, e.g. one that crashes its
//!    worker) → dead letter `retries`.
//! 2. Take a per-function permit (while holding a global one), keep the lease alive.
//! 3. Invoke. A status in [`WorkerConfig::retry_statuses`] or a retryable [`InvokeError`] →
//!    [`Queue::retry`] after [`Backoff::delay`], or a dead letter `retries` on the last
//!    attempt. A fatal `InvokeError` → dead letter `error`.
//! 4. Any other status is final: count it, POST the callback (if any; retried in place up to
//!    [`WorkerConfig::callback_attempts`], then dead letter `callback`), then [`Queue::ack`].
//!
//! A dead-lettered call gets no callback: it is not finished, and a replay may finish it.

mod backoff;
mod invoker;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinSet;

pub use backoff::Backoff;
pub use invoker::{HttpInvoker, InvokeError, InvokeResponse, Invoker};

use crate::callback::{CallbackOutcome, CallbackPolicy, CallbackRequest, post_callback};
use crate::metrics as m;
use crate::queue::{Delivery, DynQueue, Failure};

/// Settings of a [`Worker`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// Invocations at once in this worker (default 64).
    pub concurrency: usize,
    /// Invocations at once per function (`name.namespace`) in this worker; 0 = no limit
    /// (default 16).
    pub per_function_concurrency: usize,
    /// Attempts per call before it is dead-lettered (default 5).
    pub max_attempts: u32,
    /// Function statuses that are retried (default 429, 502, 503, 504).
    pub retry_statuses: Vec<u16>,
    /// Delay between attempts.
    pub backoff: Backoff,
    /// Callback POST attempts before the call is dead-lettered (default 5).
    pub callback_attempts: u32,
    /// Delay between callback attempts.
    pub callback_backoff: Backoff,
    /// Timeout of one callback POST (default 10 s).
    pub callback_timeout: Duration,
    /// Which callback URLs may be posted to (checked again before posting).
    pub callback_policy: CallbackPolicy,
    /// How often a lease is refreshed while a call is worked on (default 10 s; keep it well
    /// under the queue's visibility timeout / ack wait).
    pub lease_refresh: Duration,
    /// Where the worker's metrics go (default: the global `metrics` recorder).
    pub metrics: crate::metrics::MetricsSink,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 64,
            per_function_concurrency: 16,
            max_attempts: 5,
            retry_statuses: vec![429, 502, 503, 504],
            backoff: Backoff::default(),
            callback_attempts: 5,
            callback_backoff: Backoff {
                initial: Duration::from_millis(200),
                max: Duration::from_secs(10),
                ..Backoff::default()
            },
            callback_timeout: Duration::from_secs(10),
            callback_policy: CallbackPolicy::allow_any(),
            lease_refresh: Duration::from_secs(10),
            metrics: crate::metrics::MetricsSink::global(),
        }
    }
}

/// Runs calls from a [`Queue`](crate::Queue) through an [`Invoker`].
#[derive(Debug, Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: DynQueue,
    invoker: Arc<dyn Invoker>,
    config: WorkerConfig,
    http: reqwest::Client,
    per_function: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A worker running in the background; [`WorkerHandle::shutdown`] stops it.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops fetching, waits for in-flight calls to settle, and returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Worker {
    /// A worker taking calls from `queue` and running them with `invoker`.
    pub fn new(
        queue: DynQueue,
        invoker: Arc<dyn Invoker>,
        config: WorkerConfig,
    ) -> crate::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.callback_timeout)
            .pool_max_idle_per_host(256)
            .user_agent("faas-queue-worker")
            .build()
            .map_err(|e| crate::QueueError::unavailable("cannot build the callback client", e))?;
        Ok(Worker {
            inner: Arc::new(Inner {
                queue,
                invoker,
                config,
                http,
                per_function: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Runs the worker on the current runtime until [`WorkerHandle::shutdown`].
    pub fn spawn(self) -> WorkerHandle {
        let (stop, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            self.run_until(async move {
                let _ = rx.await;
            })
            .await
        });
        WorkerHandle {
            stop: Some(stop),
            task,
        }
    }

    /// Runs until `shutdown` completes, then waits for in-flight calls to settle.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let concurrency = self.inner.config.concurrency.max(1);
        let global = Arc::new(Semaphore::new(concurrency));
        let mut tasks = JoinSet::new();
        let depth_task = tokio::spawn(sample_depth(
            self.inner.queue.clone(),
            self.inner.config.metrics.clone(),
        ));
        let mut fetch_errors = 0u32;
        loop {
            let first = tokio::select! {
                _ = &mut shutdown => break,
                p = global.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            let mut permits = vec![first];
            while let Ok(p) = global.clone().try_acquire_owned() {
                permits.push(p);
            }
            let fetched = tokio::select! {
                _ = &mut shutdown => break,
                r = self.inner.queue.fetch(permits.len()) => r,
            };
            match fetched {
                Ok(deliveries) => {
                    fetch_errors = 0;
                    for d in deliveries {
                        let Some(permit) = permits.pop() else { break };
                        let inner = self.inner.clone();
                        tasks.spawn(async move { inner.handle(d, permit).await });
                    }
                }
                Err(e) => {
                    fetch_errors = fetch_errors.saturating_add(1);
                    let wait = Backoff {
                        initial: Duration::from_millis(100),
                        max: Duration::from_secs(5),
                        ..Backoff::default()
                    }
                    .delay(fetch_errors);
                    tracing::warn!(error = %e, retry_in = ?wait, "fetching async calls failed");
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
            // Reap finished tasks so the set does not grow.
            while tasks.try_join_next().is_some() {}
        }
        depth_task.abort();
        while tasks.join_next().await.is_some() {}
    }
}

async fn sample_depth(queue: DynQueue, sink: crate::metrics::MetricsSink) {
    let gauge = sink.gauge(m::QUEUE_DEPTH, &[("backend", queue.backend().to_owned())]);
    loop {
        if let Ok(d) = queue.depth().await {
            gauge.set(d as f64);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl Inner {
    fn function_limit(&self, key: &str) -> Option<Arc<Semaphore>> {
        let n = self.config.per_function_concurrency;
        if n == 0 {
            return None;
        }
        let mut map = self.per_function.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            map.entry(key.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(n)))
                .clone(),
        )
    }

    /// Runs `fut` while refreshing the delivery's lease.
    async fn keeping_lease<T>(&self, d: &Delivery, fut: impl Future<Output = T>) -> T {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return out,
                _ = tokio::time::sleep(self.config.lease_refresh) => {
                    if let Err(e) = self.queue.extend(d).await {
                        tracing::warn!(call_id = %d.call.id, error = %e, "could not extend lease");
                    }
                }
            }
        }
    }

    async fn handle(self: Arc<Self>, d: Delivery, _global: OwnedSemaphorePermit) {
        let id = d.call.id.clone();
        if let Err(e) = self.process(d).await {
            // The lease stays unsettled and is delivered again later.
            tracing::warn!(call_id = %id, error = %e, "could not settle async call");
        }
    }

    async fn process(&self, d: Delivery) -> crate::Result<()> {
        let attempt = d.call.attempt;
        let name = d.call.qualified_name();
        if attempt > self.config.max_attempts {
            return self
                .bury(
                    d,
                    "retries",
                    format!(
                        "delivered {attempt} times (limit {})",
                        self.config.max_attempts
                    ),
                    None,
                )
                .await;
        }
        let _fn_permit = match self.function_limit(&name) {
            Some(sem) => Some(
                self.keeping_lease(&d, sem.acquire_owned())
                    .await
                    .map_err(|_| crate::QueueError::Closed)?,
            ),
            None => None,
        };
        let in_flight = self.config.metrics.gauge(m::IN_FLIGHT, &[]);
        in_flight.increment(1.0);
        let start_nanos = unix_nanos();
        let started = Instant::now();
        let result = self.keeping_lease(&d, self.invoker.invoke(&d.call)).await;
        let duration = started.elapsed();
        in_flight.decrement(1.0);
        let response = match result {
            Ok(r) if self.config.retry_statuses.contains(&r.status.as_u16()) => {
                let status = r.status.as_u16();
                return self
                    .retry_or_bury(
                        d,
                        format!("function answered {status}"),
                        Some(status),
                        "status",
                    )
                    .await;
            }
            Ok(r) => r,
            Err(e) if e.retryable => return self.retry_or_bury(d, e.message, None, "error").await,
            Err(e) => return self.bury(d, "error", e.message, None).await,
        };
        self.config
            .metrics
            .counter(
                m::COMPLETED_TOTAL,
                &[("code", response.status.as_u16().to_string())],
            )
            .increment(1);
        tracing::debug!(call_id = %d.call.id, function = %name, status = response.status.as_u16(), attempt, "async call finished");
        if let Some(url) = d.call.callback_url.clone() {
            let status = response.status.as_u16();
            if let Err(reason) = self
                .keeping_lease(&d, self.callback(&d, &url, response, duration, start_nanos))
                .await
            {
                return self.bury(d, "callback", reason, Some(status)).await;
            }
        }
        self.queue.ack(d).await
    }

    async fn callback(
        &self,
        d: &Delivery,
        url: &str,
        response: InvokeResponse,
        duration: Duration,
        start_nanos: u128,
    ) -> Result<(), String> {
        if let Err(e) = self.config.callback_policy.validate(url) {
            self.config
                .metrics
                .counter(m::CALLBACKS_TOTAL, &[("result", "failed".to_owned())])
                .increment(1);
            return Err(e.to_string());
        }
        let attempts = self.config.callback_attempts.max(1);
        let mut last = String::new();
        for n in 1..=attempts {
            let req = CallbackRequest {
                url,
                call_id: d.call.id.as_str(),
                function: &d.call.function,
                namespace: &d.call.namespace,
                status: response.status,
                headers: &response.headers,
                body: response.body.clone(),
                duration,
                start_time_nanos: start_nanos,
            };
            match post_callback(&self.http, req).await {
                CallbackOutcome::Delivered(s) => {
                    if !s.is_success() {
                        tracing::warn!(call_id = %d.call.id, status = s.as_u16(), "callback receiver refused the result");
                    }
                    self.config
                        .metrics
                        .counter(m::CALLBACKS_TOTAL, &[("result", "delivered".to_owned())])
                        .increment(1);
                    return Ok(());
                }
                CallbackOutcome::Retry(reason) => {
                    self.config
                        .metrics
                        .counter(m::CALLBACKS_TOTAL, &[("result", "retry".to_owned())])
                        .increment(1);
                    tracing::debug!(call_id = %d.call.id, attempt = n, %reason, "callback failed");
                    last = reason;
                    if n < attempts {
                        tokio::time::sleep(self.config.callback_backoff.delay(n)).await;
                    }
                }
            }
        }
        self.config
            .metrics
            .counter(m::CALLBACKS_TOTAL, &[("result", "failed".to_owned())])
            .increment(1);
        Err(format!("callback failed {attempts} times; last: {last}"))
    }

    async fn retry_or_bury(
        &self,
        d: Delivery,
        message: String,
        status: Option<u16>,
        why: &'static str,
    ) -> crate::Result<()> {
        if d.call.attempt >= self.config.max_attempts {
            let msg = format!("{message} after {} attempts", d.call.attempt);
            return self.bury(d, "retries", msg, status).await;
        }
        let delay = self.config.backoff.delay(d.call.attempt);
        self.config
            .metrics
            .counter(m::RETRIES_TOTAL, &[("reason", why.to_owned())])
            .increment(1);
        tracing::debug!(call_id = %d.call.id, attempt = d.call.attempt, ?delay, %message, "retrying async call");
        self.queue.retry(d, delay).await
    }

    async fn bury(
        &self,
        d: Delivery,
        reason: &'static str,
        message: String,
        last_status: Option<u16>,
    ) -> crate::Result<()> {
        tracing::warn!(call_id = %d.call.id, function = %d.call.qualified_name(), reason, %message, "async call dead-lettered");
        self.config
            .metrics
            .counter(m::DEAD_LETTERS_TOTAL, &[("reason", reason.to_owned())])
            .increment(1);
        self.queue
            .dead_letter(
                d,
                Failure {
                    reason: reason.to_owned(),
                    message,
                    last_status,
                },
            )
            .await
    }
}
