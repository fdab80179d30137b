//! Metric names (through the [`metrics`] facade; the gateway installs the exporter).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`QUEUED_TOTAL`] | counter | `backend` |
//! | [`IN_FLIGHT`] | gauge | — |
//! | [`COMPLETED_TOTAL`] | counter | `code` (the function's status) |
//! | [`RETRIES_TOTAL`] | counter | `reason` (`status` or `error`) |
//! | [`DEAD_LETTERS_TOTAL`] | counter | `reason` (`retries`, `error`, `callback`) |
//! | [`CALLBACKS_TOTAL`] | counter | `result` (`delivered`, `retry`, `failed`) |
//! | [`QUEUE_DEPTH`] | gauge | `backend` |

/// Calls accepted (durably stored) by [`Queue::enqueue`](crate::Queue::enqueue).
pub const QUEUED_TOTAL: &str = "faas_queue_enqueued_total";
/// Invocations running in workers of this process.
pub const IN_FLIGHT: &str = "faas_queue_in_flight";
/// Calls finished with a final function status (before the callback).
pub const COMPLETED_TOTAL: &str = "faas_queue_completed_total";
/// Invocation attempts that will be retried.
pub const RETRIES_TOTAL: &str = "faas_queue_retries_total";
/// Calls moved to the dead-letter store.
pub const DEAD_LETTERS_TOTAL: &str = "faas_queue_dead_letters_total";
/// Callback POST attempts by result.
pub const CALLBACKS_TOTAL: &str = "faas_queue_callbacks_total";
/// Calls waiting or in progress in the queue (sampled by the worker).
pub const QUEUE_DEPTH: &str = "faas_queue_depth";
