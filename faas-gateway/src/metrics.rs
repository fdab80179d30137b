//! The gateway's Prometheus metrics, with OpenFaaS's names and labels.
//!
//! Each [`Metrics`] owns its own recorder (no global state, so tests and several gateways in
//! one process stay apart) and renders from our `/metrics` route. Series are created only for
//! functions that exist: the proxy asks for a [`FunctionMetrics`] only after the provider
//! resolved the function, and keeps it in its per-function cache entry, so the hot path
//! touches pre-registered atomic handles. The async queue's `faas_queue_*` series are recorded
//! into the same registry through [`Metrics::queue_sink`].
//!
//! # Deleted functions
//!
//! A deleted function's `gateway_service_count` drops to 0 at the next refresh, but its
//! `gateway_function_invocation_total`, `gateway_function_invocation_started` and
//! `gateway_functions_seconds` series stay in the exposition until the gateway restarts (and a
//! function deployed again under the same name continues them, while its `invocationCount`
//! starts from 0). metrics-exporter-prometheus 0.18 cannot forget a single series: its
//! registry is private, and its only removal is the idle timeout
//! (`PrometheusBuilder::idle_timeout`), which drops *every* series of a kind not updated
//! within a window. That would also drop idle live functions and the queue gauges, and the
//! handles kept in [`FunctionMetrics`] would go on counting into storage that is no longer
//! rendered. Forgetting a function on delete would mean keeping the per-function series in
//! our own registry and rendering them beside the exporter's text. Growth stays bounded by
//! the functions ever deployed, never by the names called.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Invocations per function and status code (counter).
pub const INVOCATION_TOTAL: &str = "gateway_function_invocation_total";
/// Invocation duration per function and status code (histogram, seconds).
pub const FUNCTIONS_SECONDS: &str = "gateway_functions_seconds";
/// Desired replicas per function (gauge).
pub const SERVICE_COUNT: &str = "gateway_service_count";
/// Invocations started per function (counter).
pub const INVOCATION_STARTED: &str = "gateway_function_invocation_started";
/// Label: `name.namespace` of the function.
pub const LABEL_FUNCTION_NAME: &str = "function_name";
/// Label: the HTTP status code answered.
pub const LABEL_CODE: &str = "code";

/// Prometheus's default histogram buckets, as the OpenFaaS gateway uses.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static METADATA: Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The gateway's metric registry.
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with the metric descriptions set.
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        let builder = match builder
            .set_buckets_for_metric(Matcher::Full(FUNCTIONS_SECONDS.to_owned()), &BUCKETS)
        {
            Ok(b) => b,
            // Only fails for an empty bucket list, which BUCKETS is not.
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = Arc::new(builder.build_recorder());
        let handle = recorder.handle();
        recorder.describe_counter(
            INVOCATION_TOTAL.into(),
            None,
            SharedString::const_str("Function invocations"),
        );
        recorder.describe_histogram(
            FUNCTIONS_SECONDS.into(),
            Some(Unit::Seconds),
            SharedString::const_str("Function invocation time taken"),
        );
        recorder.describe_gauge(
            SERVICE_COUNT.into(),
            None,
            SharedString::const_str("Service replicas"),
        );
        recorder.describe_counter(
            INVOCATION_STARTED.into(),
            None,
            SharedString::const_str("Function invocations started"),
        );
        Self { recorder, handle }
    }

    /// The handles of one existing function, labelled `label` (`name.namespace`).
    pub fn function(&self, label: &str) -> FunctionMetrics {
        let labels = vec![Label::new(LABEL_FUNCTION_NAME, label.to_owned())];
        let started = self
            .recorder
            .register_counter(&Key::from_parts(INVOCATION_STARTED, labels), &METADATA);
        let ok = self.by_code(label, 200);
        FunctionMetrics {
            label: label.to_owned(),
            started,
            ok,
            invocations: AtomicU64::new(0),
        }
    }

    /// The counter and histogram of `label` for status `code`.
    fn by_code(&self, label: &str, code: u16) -> (Counter, Histogram) {
        let labels = || {
            vec![
                Label::new(LABEL_FUNCTION_NAME, label.to_owned()),
                Label::new(LABEL_CODE, code.to_string()),
            ]
        };
        let counter = self
            .recorder
            .register_counter(&Key::from_parts(INVOCATION_TOTAL, labels()), &METADATA);
        let histogram = self
            .recorder
            .register_histogram(&Key::from_parts(FUNCTIONS_SECONDS, labels()), &METADATA);
        (counter, histogram)
    }

    /// The replica gauge of `label`.
    pub fn service_count(&self, label: &str) -> Gauge {
        let labels = vec![Label::new(LABEL_FUNCTION_NAME, label.to_owned())];
        self.recorder
            .register_gauge(&Key::from_parts(SERVICE_COUNT, labels), &METADATA)
    }

    /// Records an invocation of `function` answered with `code` after `seconds`.
    pub fn record(&self, function: &FunctionMetrics, code: u16, seconds: f64) {
        function.invocations.fetch_add(1, Ordering::Relaxed);
        if code == 200 {
            function.ok.0.increment(1);
            function.ok.1.record(seconds);
        } else {
            let (counter, histogram) = self.by_code(&function.label, code);
            counter.increment(1);
            histogram.record(seconds);
        }
    }

    /// Where the async queue and its worker record, so the `faas_queue_*` series land in this
    /// registry (no global recorder involved).
    pub fn queue_sink(&self) -> faas_queue::MetricsSink {
        faas_queue::MetricsSink::recorder(self.recorder.clone())
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains histogram samples into their buckets; call periodically so memory stays bounded
    /// when nobody scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// Pre-registered handles of one function, kept in its cache entry.
pub struct FunctionMetrics {
    label: String,
    started: Counter,
    ok: (Counter, Histogram),
    invocations: AtomicU64,
}

impl fmt::Debug for FunctionMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionMetrics")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl FunctionMetrics {
    /// Counts a started invocation.
    pub fn started(&self) {
        self.started.increment(1);
    }

    /// Invocations completed through this gateway (any code), for `invocationCount`.
    pub fn invocations(&self) -> u64 {
        self.invocations.load(Ordering::Relaxed)
    }
}
