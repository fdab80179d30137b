//! Metric names, and [`MetricsSink`]: where the series go (the global [`metrics`] recorder by
//! default, or a host's own recorder via `WorkerConfig::metrics`, `EmbeddedConfig::metrics`
//! and `NatsConfig::metrics`).
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

use std::fmt;
use std::sync::Arc;

use metrics::{Counter, Gauge, Key, Label, Metadata, Recorder};

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Where this crate's metrics go: the process-wide `metrics` recorder (the default, what the
/// standalone worker installs), or a given recorder, so a host with its own registry (the
/// gateway renders its own Prometheus recorder) gets the series without a global.
#[derive(Clone, Default)]
pub struct MetricsSink {
    recorder: Option<Arc<dyn Recorder + Send + Sync>>,
}

impl fmt::Debug for MetricsSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsSink")
            .field("global", &self.recorder.is_none())
            .finish()
    }
}

impl MetricsSink {
    /// The process-wide recorder (a no-op until one is installed).
    pub fn global() -> Self {
        Self::default()
    }

    /// Records into `recorder`.
    pub fn recorder(recorder: Arc<dyn Recorder + Send + Sync>) -> Self {
        Self {
            recorder: Some(recorder),
        }
    }

    fn key(name: &'static str, labels: &[(&'static str, String)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.clone()))
            .collect();
        Key::from_parts(name, labels)
    }

    /// The counter `name` with `labels`.
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, String)]) -> Counter {
        let key = Self::key(name, labels);
        match &self.recorder {
            Some(r) => r.register_counter(&key, &METADATA),
            None => metrics::with_recorder(|r| r.register_counter(&key, &METADATA)),
        }
    }

    /// The gauge `name` with `labels`.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, String)]) -> Gauge {
        let key = Self::key(name, labels);
        match &self.recorder {
            Some(r) => r.register_gauge(&key, &METADATA),
            None => metrics::with_recorder(|r| r.register_gauge(&key, &METADATA)),
        }
    }
}
