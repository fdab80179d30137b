//! Deliberately broken gateways (a reverse proxy in front of the real gateway, breaking one
//! contract) prove that the gateway checks can fail: each fault must be reported FAILED by the
//! check that covers it, citing its clause, while the same checks pass through the proxy without
//! a fault. Also: a gateway that does not serve `/async-function/` (404) skips GW-14 with the
//! reason, and a full queue (503 + Retry-After) fails it instead of skipping.

#[path = "support/gateway.rs"]
mod gateway_support;

use std::time::Duration;

use faas_conformance::gateway::{self, GatewayOptions};
use faas_conformance::report::{CaseReport, Outcome, Report};
use gateway_support::{GwFault, PASSWORD, USER, start_fake, start_gateway};
use reqwest::Method;

/// Runs the checks `ids` against a fake gateway with `fault` in front of a fresh real one.
async fn run(fault: GwFault, ids: &[&str]) -> Report {
    let real = start_gateway().await;
    let fake = start_fake(&real.url, fault).await;
    let mut options =
        GatewayOptions::new(&fake.url, USER, PASSWORD).with_deadlines(Duration::from_secs(4));
    options.filter = ids.iter().map(|s| (*s).to_owned()).collect();
    let report = gateway::run(&options).await;
    print!("{}", report.table());
    assert_eq!(report.cases.len(), ids.len(), "{}", report.table());
    report
}

fn case<'a>(report: &'a Report, id: &str) -> &'a CaseReport {
    report
        .get(id)
        .unwrap_or_else(|| panic!("{id} did not run:\n{}", report.table()))
}

fn assert_failed(r: &CaseReport, clause: &str, needle: &str) {
    match &r.outcome {
        Outcome::Failed(reason) => {
            assert!(
                reason.starts_with(clause),
                "{}: reason {reason:?} does not cite {clause}",
                r.id
            );
            assert!(
                reason.contains(needle),
                "{}: reason {reason:?} does not mention {needle:?}",
                r.id
            );
        }
        other => panic!("{} should have FAILED, got {other:?}", r.id),
    }
}

fn assert_passed(r: &CaseReport) {
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_without_a_fault_passes_the_checks_the_faults_break() {
    let report = run(
        GwFault::None,
        &[
            "gateway::auth_required",
            "gateway::invoke_verbs",
            "gateway::headers",
            "gateway::async_invoke",
        ],
    )
    .await;
    for c in &report.cases {
        assert_passed(c);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_fails_gw14_instead_of_skipping() {
    let report = run(GwFault::AsyncQueueFull, &["gateway::async_invoke"]).await;
    assert_failed(
        case(&report, "gateway::async_invoke"),
        "GW-14",
        "503 with Retry-After: 1",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unserved_async_route_skips_gw14_with_the_reason() {
    let report = run(GwFault::AsyncNotServed, &["gateway::async_invoke"]).await;
    match &case(&report, "gateway::async_invoke").outcome {
        Outcome::Skipped(reason) => assert!(
            reason.contains("does not serve async invocation") && reason.contains("404"),
            "{reason}"
        ),
        other => panic!("GW-14 should be SKIPPED on a 404, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_dead_letters_fail_gw2() {
    let report = run(
        GwFault::OpenRoute(Method::GET, "/system/async/dead-letters"),
        &["gateway::auth_required"],
    )
    .await;
    assert_failed(
        case(&report, "gateway::auth_required"),
        "GW-2",
        "GET /system/async/dead-letters with no credentials answered 200",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_async_stats_fail_gw2() {
    let report = run(
        GwFault::OpenRoute(Method::GET, "/system/async/stats"),
        &["gateway::auth_required"],
    )
    .await;
    assert_failed(
        case(&report, "gateway::auth_required"),
        "GW-2",
        "GET /system/async/stats with no credentials",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_namespace_writes_fail_gw2() {
    for (method, route) in [
        (Method::POST, "/system/namespaces"),
        (Method::PUT, "/system/namespace/conf-auth"),
        (Method::DELETE, "/system/namespace/conf-auth"),
    ] {
        let report = run(
            GwFault::OpenRoute(method.clone(), route),
            &["gateway::auth_required"],
        )
        .await;
        assert_failed(
            case(&report, "gateway::auth_required"),
            "GW-2",
            &format!("{method} {route} with no credentials"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_call_id_fails_gw16_but_not_gw6() {
    let report = run(
        GwFault::ReplacesCallId,
        &["gateway::invoke_verbs", "gateway::headers"],
    )
    .await;
    assert_passed(case(&report, "gateway::invoke_verbs"));
    assert_failed(
        case(&report, "gateway::headers"),
        "GW-16",
        "the response carries",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_never_sees_x_forwarded_for_fails_gw16() {
    let report = run(GwFault::HidesForwardedFor, &["gateway::headers"]).await;
    assert_failed(
        case(&report, "gateway::headers"),
        "GW-16",
        "did not see X-Forwarded-For",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_env_function_without_cgi_variables_skips_the_forwarded_for_part_of_gw16() {
    let real = start_gateway().await;
    let mut functions = faas_conformance::provider::TestFunctions::default();
    // `cat` of an empty body prints nothing: the headers the function got cannot be seen.
    functions.env = "cat".into();
    let mut options = GatewayOptions::new(&real.url, USER, PASSWORD)
        .with_deadlines(Duration::from_secs(4))
        .with_functions(functions);
    options.filter = vec!["gateway::headers".into()];
    let report = gateway::run(&options).await;
    match &case(&report, "gateway::headers").outcome {
        Outcome::Skipped(reason) => assert!(
            reason.contains("X-Call-Id and X-Start-Time passed") && reason.contains("Http_*"),
            "{reason}"
        ),
        other => panic!("GW-16 should be SKIPPED without Http_* variables, got {other:?}"),
    }
}
