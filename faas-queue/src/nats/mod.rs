//! The NATS JetStream backend, for more than one gateway or worker process.
//!
//! - One **work-queue stream** ([`NatsConfig::stream`], file storage, `max_messages` =
//!   [`NatsConfig::max_depth`] with discard-new, so a full queue refuses instead of dropping)
//!   with subjects `<subject_prefix>.<queue>`; the default queue is `default`, a named queue
//!   comes from the function's `com.openfaas.queue` annotation
//!   ([`AsyncCall::with_queue`](crate::AsyncCall::with_queue)).
//! - One **durable pull consumer** per queue (`<durable_prefix>-<queue>`), shared by every
//!   process that consumes it: explicit ack after the callback, redelivery after
//!   [`NatsConfig::ack_wait`] (refreshed with `+WPI` progress acks), nak-with-delay for
//!   retries, the delivery count as the attempt number.
//! - A **dead-letter stream** ([`NatsConfig::dead_letter_stream`]), one subject per call id,
//!   so a dead letter is found by id for replay.
//! - Publishing goes through one task that awaits acks in batches (see `publisher`). The
//!   publish carries `Nats-Msg-Id` = call id, so a retried publish is de-duplicated.
//!
//! Works with nats-server 2.9 (Debian's) and newer.

mod publisher;
mod puller;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, stream};
use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::{QueueError, Result};
use crate::message::{AsyncCall, CallId, now_ms};
use crate::queue::{DeadLetter, Delivery, Failure, Lease, Queue};

/// The default queue's name (subject suffix).
pub const DEFAULT_QUEUE: &str = "default";

/// Settings of a [`NatsQueue`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsConfig {
    /// Server URL, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Work-queue stream name (default `faas-request`).
    pub stream: String,
    /// Subject prefix; calls go to `<prefix>.<queue>` (default `faas-request`).
    pub subject_prefix: String,
    /// Queues this process consumes (default `["default"]`); add the names used in
    /// `com.openfaas.queue` annotations, or run a worker per named queue.
    pub queues: Vec<String>,
    /// Durable consumer name prefix (default `faas-worker`).
    pub durable_prefix: String,
    /// Redelivery after this long without ack or progress (default 60 s).
    pub ack_wait: Duration,
    /// JetStream's own delivery limit (default -1: unlimited; the worker dead-letters at its
    /// `max_attempts`, which keeps the call visible instead of stranded in the stream).
    pub max_deliver: i64,
    /// Unacked messages per consumer (default 10,000).
    pub max_ack_pending: i64,
    /// Most calls in the work-queue stream (default 100,000).
    pub max_depth: i64,
    /// Dead-letter stream name (default `faas-dead-letter`); subjects `<name>.<call id>`.
    pub dead_letter_stream: String,
    /// Messages pulled per request (default 64).
    pub fetch_batch: usize,
    /// Timeout of JetStream API calls and publish acks (default 5 s).
    pub timeout: Duration,
    /// Where the enqueue counter goes (default: the global `metrics` recorder).
    pub metrics: crate::metrics::MetricsSink,
}

impl NatsConfig {
    /// Defaults for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            stream: "faas-request".into(),
            subject_prefix: "faas-request".into(),
            queues: vec![DEFAULT_QUEUE.into()],
            durable_prefix: "faas-worker".into(),
            ack_wait: Duration::from_secs(60),
            max_deliver: -1,
            max_ack_pending: 10_000,
            max_depth: 100_000,
            dead_letter_stream: "faas-dead-letter".into(),
            fetch_batch: 64,
            timeout: Duration::from_secs(5),
            metrics: crate::metrics::MetricsSink::global(),
        }
    }

    /// Sets [`metrics`](NatsConfig::metrics).
    pub fn with_metrics(mut self, sink: crate::metrics::MetricsSink) -> Self {
        self.metrics = sink;
        self
    }

    /// Uses other stream, subject, consumer and dead-letter names, all derived from `name`
    /// (for isolated test runs).
    pub fn with_names(mut self, name: &str) -> Self {
        self.stream = name.into();
        self.subject_prefix = name.into();
        self.durable_prefix = format!("{name}-worker");
        self.dead_letter_stream = format!("{name}-dead-letter");
        self
    }

    /// Sets the consumed queues.
    pub fn with_queues<I: IntoIterator<Item = S>, S: Into<String>>(mut self, queues: I) -> Self {
        self.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`ack_wait`](NatsConfig::ack_wait).
    pub fn with_ack_wait(mut self, d: Duration) -> Self {
        self.ack_wait = d;
        self
    }

    /// Sets [`max_depth`](NatsConfig::max_depth).
    pub fn with_max_depth(mut self, n: i64) -> Self {
        self.max_depth = n;
        self
    }

    fn subject(&self, queue: &str) -> String {
        format!("{}.{queue}", self.subject_prefix)
    }

    fn dead_subject(&self, id: &str) -> String {
        format!("{}.{id}", self.dead_letter_stream)
    }
}

/// The JetStream-backed queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NatsQueue {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: jetstream::Context,
    config: NatsConfig,
    publisher: mpsc::Sender<publisher::Job>,
    deliveries: Mutex<Option<mpsc::Receiver<Delivery>>>,
    max_payload: usize,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsQueue")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

async fn ensure_work_stream(
    ctx: &jetstream::Context,
    config: &NatsConfig,
) -> Result<stream::Stream> {
    ctx.get_or_create_stream(stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.>", config.subject_prefix)],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        max_messages: config.max_depth,
        discard: stream::DiscardPolicy::New,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| QueueError::unavailable(format!("JetStream stream {}", config.stream), e))
}

async fn ensure_dead_stream(
    ctx: &jetstream::Context,
    config: &NatsConfig,
) -> Result<stream::Stream> {
    ctx.get_or_create_stream(stream::Config {
        name: config.dead_letter_stream.clone(),
        subjects: vec![format!("{}.>", config.dead_letter_stream)],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| {
        QueueError::unavailable(format!("JetStream stream {}", config.dead_letter_stream), e)
    })
}

impl NatsQueue {
    /// Connects, creates the streams when missing, and starts the publisher. Consumers start
    /// on the first [`Queue::fetch`], so a gateway that only enqueues pulls nothing.
    pub async fn connect(config: NatsConfig) -> Result<Self> {
        for q in &config.queues {
            AsyncCall::new("x", "")
                .with_queue(Some(q.clone()))
                .validate()?;
        }
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(config.timeout)
            .max_reconnects(None)
            .connect(config.url.as_str())
            .await
            .map_err(|e| {
                QueueError::unavailable(format!("cannot connect to NATS at {}", config.url), e)
            })?;
        let max_payload = client.server_info().max_payload;
        let ctx = jetstream::ContextBuilder::new()
            .timeout(config.timeout)
            .build(client);
        ensure_work_stream(&ctx, &config).await?;
        ensure_dead_stream(&ctx, &config).await?;
        let publisher = publisher::start(ctx.clone(), config.max_depth);
        Ok(NatsQueue {
            inner: Arc::new(Inner {
                ctx,
                config,
                publisher,
                deliveries: Mutex::new(None),
                max_payload,
            }),
        })
    }

    fn message(d: &Delivery) -> Result<&jetstream::Message> {
        match &d.lease {
            Lease::Nats(m) => Ok(m),
            Lease::Embedded { .. } => Err(QueueError::Invalid {
                field: "delivery",
                message: "delivery belongs to another backend".into(),
            }),
        }
    }

    async fn publish(&self, subject: String, msg_id: String, payload: Bytes) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .publisher
            .send(publisher::Job {
                subject,
                msg_id,
                payload,
                reply,
            })
            .await
            .map_err(|_| QueueError::Closed)?;
        rx.await.map_err(|_| QueueError::Closed)?
    }

    async fn find_dead(&self, id: &CallId) -> Result<(stream::Stream, u64, DeadLetter)> {
        let dlq = ensure_dead_stream(&self.inner.ctx, &self.inner.config).await?;
        let msg = dlq
            .get_last_raw_message_by_subject(&self.inner.config.dead_subject(id.as_str()))
            .await
            .map_err(|e| match e.kind() {
                stream::LastRawMessageErrorKind::NoMessageFound => {
                    QueueError::NotFound(id.to_string())
                }
                _ => QueueError::unavailable("reading the dead-letter stream", e),
            })?;
        let letter: DeadLetter =
            serde_json::from_slice(&msg.payload).map_err(QueueError::Decode)?;
        Ok((dlq, msg.sequence, letter))
    }

    fn nats_err(what: &str, e: impl std::fmt::Display) -> QueueError {
        QueueError::Unavailable {
            message: format!("{what}: {e}"),
            source: None,
        }
    }
}

#[async_trait]
impl Queue for NatsQueue {
    fn backend(&self) -> &'static str {
        "nats"
    }

    async fn enqueue(&self, call: AsyncCall) -> Result<()> {
        call.validate()?;
        let payload = Bytes::from(call.encode());
        // Leave room for headers (Nats-Msg-Id).
        let max = self.inner.max_payload.saturating_sub(1024);
        if payload.len() > max {
            return Err(QueueError::TooLarge {
                size: payload.len(),
                max,
            });
        }
        let subject = self
            .inner
            .config
            .subject(call.queue.as_deref().unwrap_or(DEFAULT_QUEUE));
        self.publish(subject, call.id.to_string(), payload).await?;
        self.inner
            .config
            .metrics
            .counter(
                crate::metrics::QUEUED_TOTAL,
                &[("backend", "nats".to_owned())],
            )
            .increment(1);
        Ok(())
    }

    async fn fetch(&self, max: usize) -> Result<Vec<Delivery>> {
        let mut guard = self.inner.deliveries.lock().await;
        if guard.is_none() {
            let (tx, rx) = mpsc::channel(self.inner.config.fetch_batch.max(1));
            for q in &self.inner.config.queues {
                tokio::spawn(puller::run(
                    self.inner.ctx.clone(),
                    self.inner.config.clone(),
                    q.clone(),
                    tx.clone(),
                ));
            }
            *guard = Some(rx);
        }
        let rx = guard.as_mut().ok_or(QueueError::Closed)?;
        let first = rx.recv().await.ok_or(QueueError::Closed)?;
        let mut out = vec![first];
        while out.len() < max.max(1) {
            match rx.try_recv() {
                Ok(d) => out.push(d),
                Err(_) => break,
            }
        }
        Ok(out)
    }

    async fn extend(&self, delivery: &Delivery) -> Result<()> {
        Self::message(delivery)?
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| Self::nats_err("progress ack", e))
    }

    async fn ack(&self, delivery: Delivery) -> Result<()> {
        Self::message(&delivery)?
            .ack()
            .await
            .map_err(|e| Self::nats_err("ack", e))
    }

    async fn retry(&self, delivery: Delivery, delay: Duration) -> Result<()> {
        Self::message(&delivery)?
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| Self::nats_err("nak", e))
    }

    async fn dead_letter(&self, delivery: Delivery, failure: Failure) -> Result<()> {
        let msg = Self::message(&delivery)?;
        let id = delivery.call.id.to_string();
        let letter = DeadLetter {
            call: delivery.call.clone(),
            failure,
            failed_at_ms: now_ms(),
        };
        let payload = Bytes::from(serde_json::to_vec(&letter).map_err(QueueError::Decode)?);
        let msg_id = format!("dead-{id}-{}", now_ms());
        self.publish(self.inner.config.dead_subject(&id), msg_id, payload)
            .await?;
        msg.ack().await.map_err(|e| Self::nats_err("ack", e))
    }

    async fn depth(&self) -> Result<u64> {
        let mut s = ensure_work_stream(&self.inner.ctx, &self.inner.config).await?;
        let info = s
            .info()
            .await
            .map_err(|e| QueueError::unavailable("stream info", e))?;
        Ok(info.state.messages)
    }

    async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let mut dlq = ensure_dead_stream(&self.inner.ctx, &self.inner.config).await?;
        let state = dlq
            .info()
            .await
            .map_err(|e| QueueError::unavailable("stream info", e))?
            .state
            .clone();
        let mut out = Vec::new();
        if state.messages == 0 {
            return Ok(out);
        }
        let mut seq = state.first_sequence;
        while seq <= state.last_sequence && out.len() < limit {
            match dlq.get_raw_message(seq).await {
                Ok(m) => out.push(serde_json::from_slice(&m.payload).map_err(QueueError::Decode)?),
                Err(e) if matches!(e.kind(), stream::LastRawMessageErrorKind::NoMessageFound) => {}
                Err(e) => return Err(QueueError::unavailable("reading the dead-letter stream", e)),
            }
            seq += 1;
        }
        Ok(out)
    }

    async fn replay_dead_letter(&self, id: &CallId) -> Result<()> {
        let (dlq, seq, letter) = self.find_dead(id).await?;
        let mut call = letter.call;
        call.attempt = 0;
        call.enqueued_at_ms = now_ms();
        let subject = self
            .inner
            .config
            .subject(call.queue.as_deref().unwrap_or(DEFAULT_QUEUE));
        // A fresh message id: the original one may still be in the duplicate window.
        let msg_id = format!("{id}-replay-{}", now_ms());
        self.publish(subject, msg_id, Bytes::from(call.encode()))
            .await?;
        dlq.delete_message(seq)
            .await
            .map_err(|e| QueueError::unavailable("deleting the dead letter", e))?;
        Ok(())
    }

    async fn delete_dead_letter(&self, id: &CallId) -> Result<()> {
        let (dlq, seq, _) = self.find_dead(id).await?;
        dlq.delete_message(seq)
            .await
            .map_err(|e| QueueError::unavailable("deleting the dead letter", e))?;
        Ok(())
    }
}
