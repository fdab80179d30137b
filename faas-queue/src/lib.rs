//! Durable async invocations for an OpenFaaS-compatible gateway.
//!
//! `/async-function/*` answers 202 only after the call is durably queued; a [`Worker`] later
//! invokes the function through an [`Invoker`], retries 429/502/503/504 and connection errors
//! with exponential backoff and jitter, posts the result to the call's `X-Callback-Url`, and
//! acknowledges only then (at-least-once). Calls that keep failing land in a dead-letter store
//! that can be listed and replayed.
//!
//! Two [`Queue`] backends:
//! - [`EmbeddedQueue`] (default): a redb file in the data directory, group-committed so many
//!   concurrent enqueues share one fsync; bounded; leases with a visibility timeout.
//! - [`NatsQueue`]: a JetStream work-queue stream and durable pull consumers, shared by any
//!   number of gateways and workers; optional named queues (`com.openfaas.queue`).
//!
//! # Usage
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use faas_queue::{AsyncCall, CallbackPolicy, EmbeddedConfig, EmbeddedQueue, HttpInvoker,
//!     Queue, Worker, WorkerConfig};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let queue = Arc::new(EmbeddedQueue::open(EmbeddedConfig::new("/var/lib/faas/queue")).await?);
//! // In the /async-function/ handler:
//! let policy = CallbackPolicy::allow_any();
//! policy.validate("http://127.0.0.1:9000/done")?; // 400 naming X-Callback-Url on error
//! let call = AsyncCall::new("echo", "openfaas-fn")
//!     .with_body("hello")
//!     .with_callback_url("http://127.0.0.1:9000/done");
//! let id = call.id.clone();
//! queue.enqueue(call).await?; // Ok ⇒ answer 202 with X-Call-Id: id
//! # let _ = id;
//! // A worker, in-process or standalone:
//! let invoker = Arc::new(HttpInvoker::new("http://127.0.0.1:8080", Duration::from_secs(60))?);
//! let handle = Worker::new(queue.clone(), invoker, WorkerConfig::default())?.spawn();
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`message`]: [`AsyncCall`] and [`CallId`], the stored format.
//! - [`queue`]: the [`Queue`] contract, [`Delivery`], [`DeadLetter`].
//! - [`embedded`]: the redb backend (`store`: group-commit writer; `sched`: ready/leased/delayed).
//! - [`nats`]: the JetStream backend (`publisher`: batched publish acks; `puller`: consumers).
//! - [`worker`]: [`Worker`], [`Invoker`], [`HttpInvoker`], [`Backoff`].
//! - [`callback`]: [`CallbackPolicy`] (SSRF guard) and the callback POST.
//! - [`front`]: a minimal `/async-function/` enqueue endpoint (used by the standalone binary).
//! - [`metrics`]: metric names and [`MetricsSink`] (global or host recorder).
//! - [`error`]: [`QueueError`] and its HTTP / [`faas_core::Error`] mapping.
#![forbid(unsafe_code)]

pub mod callback;
pub mod embedded;
pub mod error;
pub mod front;
pub mod message;
pub mod metrics;
pub mod nats;
pub mod queue;
pub mod worker;

pub use callback::CallbackPolicy;
pub use embedded::{EmbeddedConfig, EmbeddedQueue};
pub use error::{QueueError, Result};
pub use message::{AsyncCall, CallId};
pub use metrics::MetricsSink;
pub use nats::{NatsConfig, NatsQueue};
pub use queue::{DeadLetter, Delivery, DynQueue, Failure, Queue};
pub use worker::{
    Backoff, HttpInvoker, InvokeError, InvokeResponse, Invoker, Worker, WorkerConfig, WorkerHandle,
};
