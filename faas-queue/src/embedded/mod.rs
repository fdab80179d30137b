//! The embedded queue: a redb file in a data directory, the default backend.
//!
//! - **Durable**: [`Queue::enqueue`] returns after a group commit with `Durability::Immediate`
//!   (see `store`), so a call that got 202 survives `kill -9`.
//! - **Bounded**: at most [`EmbeddedConfig::max_depth`] calls; more → [`QueueError::Full`].
//! - **Leases**: fetched calls are leased for [`EmbeddedConfig::visibility_timeout`]
//!   ([`Queue::extend`] refreshes); an expired lease or a restart delivers the call again.
//! - One process at a time: redb locks the file, a second opener gets
//!   [`QueueError::Storage`].

mod sched;
mod store;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use redb::Database;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{QueueError, Result};
use crate::message::{AsyncCall, CallId, now_ms};
use crate::queue::{DeadLetter, Delivery, Failure, Lease, Queue};
use sched::Sched;
use store::{Op, Writer};

/// The database file inside the data directory.
pub const DB_FILE: &str = "async-queue.redb";

/// Settings of an [`EmbeddedQueue`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EmbeddedConfig {
    /// The data directory (created if missing); the queue lives in [`DB_FILE`] inside it.
    pub dir: PathBuf,
    /// Most calls held at once (default 100,000).
    pub max_depth: u64,
    /// How long a fetched call stays invisible without [`Queue::extend`] (default 60 s).
    pub visibility_timeout: Duration,
    /// Most writes in one group commit (default 8,192).
    pub max_batch: usize,
    /// Largest encoded call accepted (default 16 MiB).
    pub max_message_bytes: usize,
    /// Where the enqueue counter goes (default: the global `metrics` recorder).
    pub metrics: crate::metrics::MetricsSink,
}

impl EmbeddedConfig {
    /// Defaults, storing in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        EmbeddedConfig {
            dir: dir.into(),
            max_depth: 100_000,
            visibility_timeout: Duration::from_secs(60),
            max_batch: 8192,
            max_message_bytes: 16 * 1024 * 1024,
            metrics: crate::metrics::MetricsSink::global(),
        }
    }

    /// Sets [`metrics`](EmbeddedConfig::metrics).
    pub fn with_metrics(mut self, sink: crate::metrics::MetricsSink) -> Self {
        self.metrics = sink;
        self
    }

    /// Sets [`max_depth`](EmbeddedConfig::max_depth).
    pub fn with_max_depth(mut self, n: u64) -> Self {
        self.max_depth = n;
        self
    }

    /// Sets [`visibility_timeout`](EmbeddedConfig::visibility_timeout).
    pub fn with_visibility_timeout(mut self, d: Duration) -> Self {
        self.visibility_timeout = d;
        self
    }

    /// Sets [`max_message_bytes`](EmbeddedConfig::max_message_bytes).
    pub fn with_max_message_bytes(mut self, n: usize) -> Self {
        self.max_message_bytes = n;
        self
    }
}

/// The on-disk queue. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct EmbeddedQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Arc<Database>,
    writer: Writer,
    sched: Mutex<Sched>,
    notify: Notify,
    depth: AtomicU64,
    next_seq: AtomicU64,
    config: EmbeddedConfig,
}

impl EmbeddedQueue {
    /// Opens the queue in `config.dir`; calls stored by an earlier run are ready at once.
    pub async fn open(config: EmbeddedConfig) -> Result<Self> {
        let dir = config.dir.clone();
        let (db, seqs) = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| {
                QueueError::unavailable(format!("cannot create {}", dir.display()), e)
            })?;
            store::open(&dir.join(DB_FILE))
        })
        .await
        .map_err(|e| QueueError::unavailable("queue open task failed", e))??;
        let db = Arc::new(db);
        let depth = seqs.len() as u64;
        let next = seqs.last().map_or(1, |s| s + 1);
        if depth > 0 {
            tracing::info!(depth, "embedded queue reopened with stored calls");
        }
        let writer = Writer::start(db.clone(), config.max_batch)?;
        Ok(EmbeddedQueue {
            inner: Arc::new(Inner {
                db,
                writer,
                sched: Mutex::new(Sched::with_ready(seqs)),
                notify: Notify::new(),
                depth: AtomicU64::new(depth),
                next_seq: AtomicU64::new(next),
                config,
            }),
        })
    }

    fn sched(&self) -> MutexGuard<'_, Sched> {
        // A panic while holding the lock cannot leave Sched inconsistent in a way that matters
        // more than losing the queue; keep going with the inner value.
        self.inner.sched.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seq(d: &Delivery) -> Result<u64> {
        match d.lease {
            Lease::Embedded { seq } => Ok(seq),
            Lease::Nats(_) => Err(QueueError::Invalid {
                field: "delivery",
                message: "delivery belongs to another backend".into(),
            }),
        }
    }

    fn reserve(&self) -> Result<()> {
        let max = self.inner.config.max_depth;
        let d = self.inner.depth.fetch_add(1, Ordering::AcqRel);
        if d >= max {
            self.inner.depth.fetch_sub(1, Ordering::AcqRel);
            return Err(QueueError::Full { depth: d, max });
        }
        Ok(())
    }

    async fn read(&self, seqs: Vec<u64>) -> Result<Vec<Delivery>> {
        let db = self.inner.db.clone();
        let wanted = seqs.clone();
        let raw = tokio::task::spawn_blocking(move || store::read_many(&db, &wanted))
            .await
            .map_err(|e| QueueError::unavailable("queue read task failed", e))??;
        let mut out = Vec::with_capacity(seqs.len());
        for (seq, bytes) in seqs.into_iter().zip(raw) {
            let decoded = bytes.map(|b| AsyncCall::decode(&b));
            match decoded {
                Some(Ok(mut call)) => {
                    call.attempt = call.attempt.saturating_add(1);
                    out.push(Delivery {
                        call,
                        lease: Lease::Embedded { seq },
                    });
                }
                Some(Err(e)) => {
                    tracing::error!(seq, error = %e, "dropping an undecodable queued call");
                    self.sched().settle(seq);
                    if self.inner.writer.submit(Op::Remove { seq }).await? {
                        self.inner.depth.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                // Settled meanwhile (acked by an earlier holder of an expired lease).
                None => self.sched().settle(seq),
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn enqueue(&self, call: AsyncCall) -> Result<()> {
        call.validate()?;
        let bytes = call.encode();
        if bytes.len() > self.inner.config.max_message_bytes {
            return Err(QueueError::TooLarge {
                size: bytes.len(),
                max: self.inner.config.max_message_bytes,
            });
        }
        self.reserve()?;
        let seq = self.inner.next_seq.fetch_add(1, Ordering::AcqRel);
        if let Err(e) = self.inner.writer.submit(Op::Put { seq, bytes }).await {
            self.inner.depth.fetch_sub(1, Ordering::AcqRel);
            return Err(e);
        }
        self.sched().push_ready(seq);
        self.inner.notify.notify_waiters();
        self.inner
            .config
            .metrics
            .counter(
                crate::metrics::QUEUED_TOTAL,
                &[("backend", "embedded".to_owned())],
            )
            .increment(1);
        Ok(())
    }

    async fn fetch(&self, max: usize) -> Result<Vec<Delivery>> {
        let max = max.max(1);
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (seqs, wake) = {
                let mut s = self.sched();
                let seqs = s.take(max, Instant::now(), self.inner.config.visibility_timeout);
                (seqs, s.next_wakeup())
            };
            if !seqs.is_empty() {
                let got = self.read(seqs).await?;
                if !got.is_empty() {
                    return Ok(got);
                }
                continue;
            }
            match wake {
                Some(t) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(t) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    async fn extend(&self, delivery: &Delivery) -> Result<()> {
        let seq = Self::seq(delivery)?;
        self.sched()
            .extend(seq, Instant::now() + self.inner.config.visibility_timeout);
        Ok(())
    }

    async fn ack(&self, delivery: Delivery) -> Result<()> {
        let seq = Self::seq(&delivery)?;
        let found = self.inner.writer.submit(Op::Remove { seq }).await?;
        if found {
            self.inner.depth.fetch_sub(1, Ordering::AcqRel);
        }
        self.sched().settle(seq);
        Ok(())
    }

    async fn retry(&self, delivery: Delivery, delay: Duration) -> Result<()> {
        let seq = Self::seq(&delivery)?;
        // Stored `attempt` counts attempts made; this delivery's number is exactly that.
        let bytes = delivery.call.encode();
        self.inner.writer.submit(Op::Put { seq, bytes }).await?;
        self.sched().delay(seq, Instant::now() + delay);
        self.inner.notify.notify_waiters();
        Ok(())
    }

    async fn dead_letter(&self, delivery: Delivery, failure: Failure) -> Result<()> {
        let seq = Self::seq(&delivery)?;
        let id = delivery.call.id.to_string();
        let letter = DeadLetter {
            call: delivery.call,
            failure,
            failed_at_ms: now_ms(),
        };
        let bytes = serde_json::to_vec(&letter).map_err(QueueError::Decode)?;
        if self
            .inner
            .writer
            .submit(Op::Bury { seq, id, bytes })
            .await?
        {
            self.inner.depth.fetch_sub(1, Ordering::AcqRel);
        }
        self.sched().settle(seq);
        Ok(())
    }

    async fn depth(&self) -> Result<u64> {
        Ok(self.inner.depth.load(Ordering::Acquire))
    }

    async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let db = self.inner.db.clone();
        let mut all = tokio::task::spawn_blocking(move || store::read_dead(&db))
            .await
            .map_err(|e| QueueError::unavailable("queue read task failed", e))??;
        all.sort_by_key(|d| (d.failed_at_ms, d.call.id.clone()));
        all.truncate(limit);
        Ok(all)
    }

    async fn replay_dead_letter(&self, id: &CallId) -> Result<()> {
        self.reserve()?;
        let seq = self.inner.next_seq.fetch_add(1, Ordering::AcqRel);
        match self
            .inner
            .writer
            .submit(Op::Unbury {
                id: id.to_string(),
                seq,
            })
            .await
        {
            Ok(true) => {
                self.sched().push_ready(seq);
                self.inner.notify.notify_waiters();
                Ok(())
            }
            Ok(false) => {
                self.inner.depth.fetch_sub(1, Ordering::AcqRel);
                Err(QueueError::NotFound(id.to_string()))
            }
            Err(e) => {
                self.inner.depth.fetch_sub(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }

    async fn delete_dead_letter(&self, id: &CallId) -> Result<()> {
        if self
            .inner
            .writer
            .submit(Op::DeleteDead { id: id.to_string() })
            .await?
        {
            Ok(())
        } else {
            Err(QueueError::NotFound(id.to_string()))
        }
    }
}
