//! Deliberately broken providers (MemoryProvider behind a faulty wrapper) prove that the checks
//! can fail: each fault must be reported FAILED by the check that covers it, citing its clause,
//! while unrelated checks still pass. Also: undeclared capabilities are SKIPPED with the reason.

use std::sync::Arc;
use std::time::Duration;

use faas_conformance::provider::{self, FactoryResult, Options, Target};
use faas_conformance::report::{CaseReport, Outcome};
use faas_core::Capabilities;
use faas_core::memory::{MemoryConfig, MemoryProvider};

mod support;
use support::{Broken, Fault};

fn options() -> Options {
    Options::default().with_deadlines(Duration::from_secs(3))
}

async fn check(fault: Fault, id: &str) -> CaseReport {
    let factory = move || async move {
        FactoryResult::Ok(Target::new(Arc::new(Broken {
            inner: MemoryProvider::new(),
            fault,
        })))
    };
    match provider::run_one(factory, id, &options()).await {
        Some(r) => r,
        None => panic!("no check {id}"),
    }
}

fn assert_failed(r: &CaseReport, clause: &str) {
    match &r.outcome {
        Outcome::Failed(reason) => assert!(
            reason.starts_with(clause),
            "{}: reason {reason:?} does not cite {clause}",
            r.id
        ),
        other => panic!("{} should have FAILED, got {other:?}", r.id),
    }
}

fn assert_passed(r: &CaseReport) {
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_labels_fail_the_field_checks() {
    let r = check(Fault::LosesLabels, "deploy::get_shows_every_field").await;
    assert_failed(&r, "DEP-1");
    assert!(
        r.outcome.reason().contains("labels.upstream_uri"),
        "{:?}",
        r.outcome
    );
    assert_failed(
        &check(Fault::LosesLabels, "deploy::list_matches_get").await,
        "DEP-4",
    );
    assert_passed(&check(Fault::LosesLabels, "missing::get").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_error_kind_for_a_missing_function_fails_nf1() {
    let r = check(Fault::WrongKindForMissing, "missing::get").await;
    assert_failed(&r, "NF-1");
    assert!(
        r.outcome
            .reason()
            .contains("expected not_found, got internal"),
        "{:?}",
        r.outcome
    );
    assert_failed(
        &check(Fault::WrongKindForMissing, "delete::removes_everything").await,
        "DEL-1",
    );
    assert_passed(&check(Fault::WrongKindForMissing, "deploy::get_shows_every_field").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_capability_it_lacks_fails_its_check() {
    assert_failed(
        &check(Fault::ClaimsFollowItLacks, "logs::follow_streams_new_lines").await,
        "LOG-2",
    );
    assert_passed(&check(Fault::ClaimsFollowItLacks, "logs::contain_watchdog_lines").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_capability_that_works_fails_cap1_and_skips_its_checks() {
    let r = check(Fault::ScalesWhileUndeclared, "unsupported::scale").await;
    assert_failed(&r, "CAP-1");
    assert!(
        r.outcome.reason().contains("expected unsupported, got Ok"),
        "{:?}",
        r.outcome
    );
    let r = check(Fault::ScalesWhileUndeclared, "scale::to_n").await;
    assert_eq!(
        r.outcome,
        Outcome::Skipped("provider declares `scale: false`".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_that_ignore_since_fail_log4() {
    let r = check(Fault::IgnoresSince, "logs::since_filters_older_lines").await;
    assert_failed(&r, "LOG-4");
    assert!(
        r.outcome.reason().contains("logs(since") && r.outcome.reason().contains("returned"),
        "{:?}",
        r.outcome
    );
    assert_passed(&check(Fault::IgnoresSince, "logs::contain_watchdog_lines").await);
    assert_passed(&check(Fault::IgnoresSince, "logs::tail_limits_lines").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_logs_log4_is_skipped_with_the_reason() {
    let mut caps = Capabilities::all();
    caps.logs = false;
    caps.logs_can_follow = false;
    let factory = move || {
        let caps = caps.clone();
        async move {
            let p = MemoryProvider::with_config(MemoryConfig::default().with_capabilities(caps));
            FactoryResult::Ok(Target::new(Arc::new(p)))
        }
    };
    let r = provider::run_one(factory, "logs::since_filters_older_lines", &options()).await;
    assert_eq!(
        r.map(|r| r.outcome),
        Some(Outcome::Skipped("provider declares `logs: false`".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_requests_fail_dep3() {
    assert_failed(
        &check(Fault::InventsRequests, "deploy::invents_nothing").await,
        "DEP-3",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smaller_honest_provider_skips_with_reasons_and_passes_unsupported() {
    let mut caps = Capabilities::all();
    caps.secrets = false;
    caps.secrets_can_update = false;
    caps.logs_can_follow = false;
    caps.namespaces_can_mutate = false;
    let factory = move || {
        let caps = caps.clone();
        async move {
            let p = MemoryProvider::with_config(MemoryConfig::default().with_capabilities(caps));
            FactoryResult::Ok(Target::new(Arc::new(p)))
        }
    };
    let report = provider::run(factory, &options()).await;
    print!("{}", report.table());
    assert!(report.is_success(), "{}", report.table());
    let outcome = |id: &str| report.get(id).map(|c| c.outcome.clone());
    assert_eq!(
        outcome("secrets::crud"),
        Some(Outcome::Skipped(
            "provider declares `secrets: false`".into()
        ))
    );
    assert_eq!(
        outcome("logs::follow_streams_new_lines"),
        Some(Outcome::Skipped(
            "provider declares `logs_can_follow: false`".into()
        ))
    );
    for id in [
        "unsupported::secrets",
        "unsupported::secrets_can_update",
        "unsupported::logs_can_follow",
        "unsupported::namespaces_can_mutate",
    ] {
        assert_eq!(outcome(id), Some(Outcome::Passed), "{id}");
    }
    assert!(matches!(
        outcome("unsupported::scale"),
        Some(Outcome::Skipped(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capability_overrides_skip_checks_without_expecting_unsupported() {
    let options = options()
        .with_capability_overrides("logs=false")
        .unwrap_or_else(|e| panic!("{e}"));
    let factory = || async { FactoryResult::Ok(Target::new(Arc::new(MemoryProvider::new()))) };
    let r = provider::run_one(factory, "logs::contain_watchdog_lines", &options).await;
    assert!(matches!(r.map(|r| r.outcome), Some(Outcome::Skipped(s)) if s.contains("override")));
    let r = provider::run_one(factory, "logs::since_filters_older_lines", &options).await;
    assert!(matches!(r.map(|r| r.outcome), Some(Outcome::Skipped(s)) if s.contains("override")));
    let r = provider::run_one(factory, "unsupported::logs", &options).await;
    assert!(matches!(r.map(|r| r.outcome), Some(Outcome::Skipped(s)) if s.contains("override")));
}
