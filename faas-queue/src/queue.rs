//! The [`Queue`] contract shared by the embedded and the NATS JetStream backends.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::message::{AsyncCall, CallId};

/// A durable, at-least-once queue of [`AsyncCall`]s.
///
/// # Contract
/// - [`enqueue`](Queue::enqueue) returns `Ok` only once the call is durably stored (fsynced by
///   the embedded backend, acknowledged by JetStream); any error means it was not stored, and
///   the gateway must not answer 202.
/// - [`fetch`](Queue::fetch) leases calls: a leased call is not handed out again until its
///   lease is settled, or it expires (the visibility timeout / JetStream ack wait, refreshed
///   by [`extend`](Queue::extend)), or the process restarts; then it is delivered again.
/// - Every delivery is settled exactly once by [`ack`](Queue::ack) (done),
///   [`retry`](Queue::retry) (again after a delay, counting an attempt) or
///   [`dead_letter`](Queue::dead_letter) (parked for a human, see
///   [`replay_dead_letter`](Queue::replay_dead_letter)).
/// - [`Delivery::call`]'s `attempt` is the 1-based number of this attempt.
#[async_trait]
pub trait Queue: Send + Sync + Debug + 'static {
    /// The backend's name, for logs and metric labels (`embedded`, `nats`).
    fn backend(&self) -> &'static str;

    /// Stores a call durably. Errors: [`Full`](crate::QueueError::Full),
    /// [`Unavailable`](crate::QueueError::Unavailable), [`TooLarge`](crate::QueueError::TooLarge),
    /// [`Invalid`](crate::QueueError::Invalid).
    async fn enqueue(&self, call: AsyncCall) -> Result<()>;

    /// Waits until at least one call is available and leases up to `max` of them. Cancel-safe:
    /// dropping the future loses no call (a lease taken meanwhile expires and is redelivered).
    async fn fetch(&self, max: usize) -> Result<Vec<Delivery>>;

    /// Keeps a lease alive while the call is being worked on.
    async fn extend(&self, delivery: &Delivery) -> Result<()>;

    /// Settles a delivery as done: the call is removed.
    async fn ack(&self, delivery: Delivery) -> Result<()>;

    /// Settles a delivery as failed-for-now: delivered again after `delay` as the next attempt.
    async fn retry(&self, delivery: Delivery, delay: Duration) -> Result<()>;

    /// Settles a delivery by moving the call to the dead-letter store.
    async fn dead_letter(&self, delivery: Delivery, failure: Failure) -> Result<()>;

    /// Calls queued (waiting, delayed or leased).
    async fn depth(&self) -> Result<u64>;

    /// Up to `limit` dead letters, oldest first.
    async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>>;

    /// Queues a dead letter again as a fresh call (attempts reset) and removes it from the
    /// dead-letter store. [`NotFound`](crate::QueueError::NotFound) when there is no such id.
    async fn replay_dead_letter(&self, id: &CallId) -> Result<()>;

    /// Removes a dead letter without replaying it.
    async fn delete_dead_letter(&self, id: &CallId) -> Result<()>;
}

/// A shared queue, as the gateway and worker hold it.
pub type DynQueue = Arc<dyn Queue>;

/// Why a call was dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Short machine-readable reason: `retries` (attempts exhausted), `error` (could not
    /// invoke), `callback` (the callback kept failing).
    pub reason: String,
    /// One line for humans.
    pub message: String,
    /// The function's last HTTP status, when it answered.
    pub last_status: Option<u16>,
}

/// A call in the dead-letter store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The call as it was last delivered (`attempt` = attempts made).
    pub call: AsyncCall,
    /// Why it was parked.
    pub failure: Failure,
    /// When, in milliseconds since the Unix epoch.
    pub failed_at_ms: u64,
}

/// A leased call handed out by [`Queue::fetch`].
#[derive(Debug)]
pub struct Delivery {
    /// The call; `attempt` is the number of this attempt (1 for the first).
    pub call: AsyncCall,
    pub(crate) lease: Lease,
}

/// Backend-specific handle of a lease.
#[derive(Debug)]
pub(crate) enum Lease {
    /// The embedded store's sequence number.
    Embedded { seq: u64 },
    /// A JetStream message (acked, nacked or progressed through its reply subject).
    Nats(Box<async_nats::jetstream::Message>),
}
