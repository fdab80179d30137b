//! The provider suite: certifies any [`Provider`](faas_core::Provider) against SPEC.md.
//!
//! Run it whole with [`run`], one check with [`run_one`], or one `#[test]` per check with
//! [`provider_tests!`](crate::provider_tests). Each check gets a fresh provider from the factory,
//! unique names (`conf-<run>-<case>-<n>`), and a [`Fixture`] that deletes what it created even
//! when the check failed. Checks whose capability `info()` does not declare are reported
//! SKIPPED with the reason; the `unsupported::*` checks assert that undeclared operations
//! return `Unsupported`.
//!
//! The suite is not API-stable: checks are added as the contract grows.

pub mod caps;
pub mod cases;
pub mod ctx;
pub mod fields;
pub mod fixture;
pub mod options;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use faas_core::DynProvider;
use futures::future::BoxFuture;

pub use caps::Cap;
pub use ctx::Ctx;
pub use fixture::Fixture;
pub use options::{Options, TestFunctions};

use crate::failure::{CheckResult, Failure};
use crate::report::{CaseReport, Outcome, Report};

/// What a factory yields: a provider and the namespace to test in (`""` for its default).
#[derive(Debug, Clone)]
pub struct Target {
    /// The provider under test.
    pub provider: Arc<DynProvider>,
    /// The namespace checks deploy to.
    pub namespace: String,
}

impl Target {
    /// `provider`, tested in its default namespace.
    pub fn new(provider: Arc<DynProvider>) -> Self {
        Self {
            provider,
            namespace: String::new(),
        }
    }

    /// Tests in `namespace` instead.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }
}

/// A boxed error from a factory.
pub type FactoryError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a factory returns.
pub type FactoryResult = Result<Target, FactoryError>;

/// The function a check runs.
pub type CaseFn = fn(Ctx) -> BoxFuture<'static, CheckResult>;

/// One check: its id, the clause it holds the provider to, and what selects it.
#[derive(Clone)]
pub struct Case {
    /// `topic::check`, e.g. `deploy::get_shows_every_field`.
    pub id: &'static str,
    /// The SPEC.md clause, e.g. `DEP-1`.
    pub clause: &'static str,
    /// A one-line statement of the contract.
    pub statement: &'static str,
    /// Capabilities the check needs (skipped when one is not declared).
    pub requires: &'static [Cap],
    /// Runs only when this capability is NOT declared (the `Unsupported` checks).
    pub unless: Option<Cap>,
    /// The check.
    pub run: CaseFn,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("clause", &self.clause)
            .finish_non_exhaustive()
    }
}

/// Every check (see [`cases::all`]).
pub fn all_cases() -> Vec<Case> {
    cases::all()
}

/// Runs every check (those matching [`Options::filter`]) against fresh providers from
/// `factory`, one after another, and reports each.
pub async fn run<F, Fut>(factory: F, options: &Options) -> Report
where
    F: Fn() -> Fut,
    Fut: Future<Output = FactoryResult>,
{
    let run_id = fixture::new_run_id();
    let options = Arc::new(options.clone());
    let mut report = Report::new("provider");
    for (i, case) in all_cases().iter().enumerate() {
        if !options.filter.is_empty()
            && !options.filter.iter().any(|f| case.id.contains(f.as_str()))
        {
            continue;
        }
        let (result, provider_name) = run_case(&factory, case, &options, &run_id, i).await;
        if report.suite == "provider"
            && let Some(name) = provider_name
        {
            report.suite = format!("provider {name}");
        }
        report.cases.push(result);
    }
    report
}

/// Runs the check `id` alone (with its own run id), or `None` when no check has that id.
pub async fn run_one<F, Fut>(factory: F, id: &str, options: &Options) -> Option<CaseReport>
where
    F: Fn() -> Fut,
    Fut: Future<Output = FactoryResult>,
{
    let cases = all_cases();
    let (i, case) = cases.iter().enumerate().find(|(_, c)| c.id == id)?;
    Some(
        run_case(
            &factory,
            case,
            &Arc::new(options.clone()),
            &fixture::new_run_id(),
            i,
        )
        .await
        .0,
    )
}

fn skip_reason(
    case: &Case,
    ctx_caps: &faas_core::Capabilities,
    declared: &faas_core::Capabilities,
    overridden: &[Cap],
) -> Option<String> {
    for cap in case.requires {
        if overridden.contains(cap) {
            return Some(format!(
                "capability `{}` switched off by override",
                cap.name()
            ));
        }
        if !cap.declared(ctx_caps) {
            return Some(format!("provider declares `{}: false`", cap.name()));
        }
    }
    if let Some(cap) = case.unless {
        if overridden.contains(&cap) {
            return Some(format!(
                "capability `{}` switched off by override; the provider has it, so Unsupported is not expected",
                cap.name()
            ));
        }
        if cap.declared(declared) {
            return Some(format!(
                "provider declares `{}: true`; this check applies only without it",
                cap.name()
            ));
        }
    }
    None
}

async fn run_case<F, Fut>(
    factory: &F,
    case: &Case,
    options: &Arc<Options>,
    run_id: &str,
    case_no: usize,
) -> (CaseReport, Option<String>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = FactoryResult>,
{
    let started = Instant::now();
    let (outcome, name) = run_case_inner(factory, case, options, run_id, case_no).await;
    match &outcome {
        Outcome::Failed(r) => tracing::warn!(case = case.id, "FAILED: {r}"),
        Outcome::Skipped(r) => tracing::info!(case = case.id, "SKIPPED: {r}"),
        Outcome::Passed => tracing::info!(case = case.id, "PASSED"),
    }
    let report = CaseReport {
        id: case.id.to_owned(),
        clause: case.clause.to_owned(),
        statement: case.statement.to_owned(),
        outcome,
        duration: started.elapsed(),
    };
    (report, name)
}

async fn run_case_inner<F, Fut>(
    factory: &F,
    case: &Case,
    options: &Arc<Options>,
    run_id: &str,
    case_no: usize,
) -> (Outcome, Option<String>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = FactoryResult>,
{
    let target = match factory().await {
        Ok(t) => t,
        Err(e) => {
            return (
                Outcome::Failed(format!("the provider factory failed: {e}")),
                None,
            );
        }
    };
    let info = match target.provider.info().await {
        Ok(i) => i,
        Err(e) => return (Outcome::Failed(format!("INFO-1: info() failed: {e}")), None),
    };
    let name = Some(info.provider.clone());
    let declared = info.capabilities.clone();
    let mut caps = declared.clone();
    for cap in &options.capability_overrides {
        caps = switch_off(caps, *cap);
    }
    if let Some(reason) = skip_reason(case, &caps, &declared, &options.capability_overrides) {
        return (Outcome::Skipped(reason), name);
    }
    let fixture = Arc::new(Fixture::new(run_id, case_no));
    let ctx = Ctx::new(
        target.provider.clone(),
        target.namespace.clone(),
        info,
        caps,
        options.clone(),
        fixture.clone(),
    );
    let fut = (case.run)(ctx);
    let deadline = options.case_timeout;
    let joined = tokio::spawn(async move { tokio::time::timeout(deadline, fut).await }).await;
    let outcome = match joined {
        Ok(Ok(Ok(()))) => Outcome::Passed,
        Ok(Ok(Err(Failure::Failed { clause, message }))) => {
            Outcome::Failed(format!("{clause}: {message}"))
        }
        Ok(Ok(Err(Failure::Skipped { reason }))) => Outcome::Skipped(reason),
        Ok(Err(_)) => Outcome::Failed(format!(
            "{}: the check did not finish within {deadline:?}",
            case.clause
        )),
        Err(e) if e.is_panic() => Outcome::Failed(format!(
            "{}: the check panicked: {}",
            case.clause,
            panic_text(e.into_panic())
        )),
        Err(e) => Outcome::Failed(format!("{}: the check was cancelled: {e}", case.clause)),
    };
    for problem in fixture.cleanup(&*target.provider).await {
        tracing::warn!(case = case.id, "{problem}");
    }
    (outcome, name)
}

fn switch_off(mut caps: faas_core::Capabilities, cap: Cap) -> faas_core::Capabilities {
    match cap {
        Cap::Scale => caps.scale = false,
        Cap::ScaleCanZero => caps.scale_can_zero = false,
        Cap::ReplicasMax => caps.replicas_max = None,
        Cap::Secrets => caps.secrets = false,
        Cap::SecretsCanUpdate => caps.secrets_can_update = false,
        Cap::Namespaces => caps.namespaces = false,
        Cap::NamespacesCanMutate => caps.namespaces_can_mutate = false,
        Cap::Logs => caps.logs = false,
        Cap::LogsCanFollow => caps.logs_can_follow = false,
    }
    caps
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic".to_owned()
    }
}

/// For `#[test]`s generated by [`provider_tests!`](crate::provider_tests): runs check `id` on a
/// fresh multi-threaded runtime, prints the outcome, and panics when it failed (or the id is
/// unknown). A skip passes the test and prints `SKIPPED: <reason>`.
///
/// Reads `FAAS_TEST_CAPABILITY_OVERRIDES` (e.g. `logs=false`) to switch capabilities off.
pub fn run_test<F, Fut>(factory: F, id: &str)
where
    F: Fn() -> Fut,
    Fut: Future<Output = FactoryResult>,
{
    let mut options = Options::default();
    if let Ok(spec) = std::env::var("FAAS_TEST_CAPABILITY_OVERRIDES") {
        match options.with_capability_overrides(&spec) {
            Ok(o) => options = o,
            Err(e) => panic!("FAAS_TEST_CAPABILITY_OVERRIDES: {e}"),
        }
    }
    run_test_with(factory, id, &options);
}

/// [`run_test`] with explicit options.
pub fn run_test_with<F, Fut>(factory: F, id: &str, options: &Options)
where
    F: Fn() -> Fut,
    Fut: Future<Output = FactoryResult>,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("building a tokio runtime: {e}"),
    };
    let report = rt.block_on(run_one(factory, id, options));
    match report {
        None => panic!("no conformance check has the id {id:?}"),
        Some(r) => match r.outcome {
            Outcome::Passed => println!("{id}: PASSED ({:.2}s)", r.duration.as_secs_f64()),
            Outcome::Skipped(reason) => println!("{id}: SKIPPED: {reason}"),
            Outcome::Failed(reason) => panic!("{id}: FAILED: {reason}"),
        },
    }
}
