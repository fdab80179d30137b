//! The gateway suite: drives a running gateway over HTTP with the OpenFaaS certifier's
//! scenarios (fixed where the certifier is weak, e.g. its scale-to-zero wait that never waits)
//! and ours: auth on every `/system` route, error codes, metrics, async invocation.
//!
//! Run it with [`run`]; every check is a `pub async fn` in [`cases`] citing its `GW-*` clause of
//! SPEC.md. Features the gateway lacks (it answers 404/405/501 on their route; for async
//! invocation only 404, since a 503 there is a full queue) are reported SKIPPED with the reason,
//! never passed. Functions are named `conf-<run>-<case>-<n>` and
//! deleted at the end of each check.

pub mod callback;
pub mod cases;
pub mod client;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

pub use client::GwCtx;

use crate::failure::{CheckResult, Failure};
use crate::provider::TestFunctions;
use crate::provider::fixture::new_run_id;
use crate::report::{CaseReport, Outcome, Report};

/// Where the gateway is and how the suite talks to it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GatewayOptions {
    /// The gateway's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Basic-auth user for `/system/*` (`admin`).
    pub user: String,
    /// Basic-auth password.
    pub password: String,
    /// The namespace to deploy to (`""` for the gateway's default).
    pub namespace: String,
    /// Where the Prometheus metrics are served (default `<url>/metrics`).
    pub metrics_url: Option<String>,
    /// The functions deployed (commands for the local provider, an image for Docker).
    pub functions: TestFunctions,
    /// How long a deployed function may take to answer.
    pub ready_timeout: Duration,
    /// How long one HTTP request may take.
    pub request_timeout: Duration,
    /// How long replica counts and log lines may take to appear.
    pub settle_timeout: Duration,
    /// Only checks whose id contains one of these strings run (all when empty).
    pub filter: Vec<String>,
}

impl GatewayOptions {
    /// Options for the gateway at `url` with basic-auth `user`/`password`.
    pub fn new(
        url: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into().trim_end_matches('/').to_owned(),
            user: user.into(),
            password: password.into(),
            namespace: String::new(),
            metrics_url: None,
            functions: TestFunctions::default(),
            ready_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            settle_timeout: Duration::from_secs(60),
            filter: Vec::new(),
        }
    }

    /// Sets the namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets the test functions.
    pub fn with_functions(mut self, functions: TestFunctions) -> Self {
        self.functions = functions;
        self
    }

    /// Sets where metrics are served.
    pub fn with_metrics_url(mut self, url: impl Into<String>) -> Self {
        self.metrics_url = Some(url.into());
        self
    }

    /// Sets every deadline to `d` (request timeout included): for fast gateways in tests.
    pub fn with_deadlines(mut self, d: Duration) -> Self {
        self.ready_timeout = d;
        self.request_timeout = d;
        self.settle_timeout = d;
        self
    }
}

/// The function a gateway check runs.
pub type GatewayCaseFn = fn(GwCtx) -> BoxFuture<'static, CheckResult>;

/// One gateway check.
#[derive(Clone)]
pub struct GatewayCase {
    /// `gateway::<check>`.
    pub id: &'static str,
    /// The SPEC.md clause.
    pub clause: &'static str,
    /// One line: the contract.
    pub statement: &'static str,
    /// The check.
    pub run: GatewayCaseFn,
}

impl std::fmt::Debug for GatewayCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayCase")
            .field("id", &self.id)
            .field("clause", &self.clause)
            .finish_non_exhaustive()
    }
}

/// Runs every gateway check (those matching [`GatewayOptions::filter`]) in order.
pub async fn run(options: &GatewayOptions) -> Report {
    let run_id = new_run_id();
    let options = Arc::new(options.clone());
    let mut report = Report::new(format!("gateway {}", options.url));
    for (i, case) in cases::all().into_iter().enumerate() {
        if !options.filter.is_empty()
            && !options.filter.iter().any(|f| case.id.contains(f.as_str()))
        {
            continue;
        }
        let started = Instant::now();
        let ctx = GwCtx::new(options.clone(), &run_id, i);
        let fut = (case.run)(ctx.clone());
        let limit = options.ready_timeout * 4 + options.settle_timeout * 2;
        let outcome = match tokio::spawn(tokio::time::timeout(limit, fut)).await {
            Ok(Ok(Ok(()))) => Outcome::Passed,
            Ok(Ok(Err(Failure::Failed { clause, message }))) => {
                Outcome::Failed(format!("{clause}: {message}"))
            }
            Ok(Ok(Err(Failure::Skipped { reason }))) => Outcome::Skipped(reason),
            Ok(Err(_)) => Outcome::Failed(format!(
                "{}: the check did not finish within {limit:?}",
                case.clause
            )),
            Err(e) => Outcome::Failed(format!(
                "{}: the check panicked or was cancelled: {e}",
                case.clause
            )),
        };
        for problem in ctx.cleanup().await {
            tracing::warn!(case = case.id, "{problem}");
        }
        report.cases.push(CaseReport {
            id: case.id.to_owned(),
            clause: case.clause.to_owned(),
            statement: case.statement.to_owned(),
            outcome,
            duration: started.elapsed(),
        });
    }
    report
}
