//! The gateway suite against the real gateway (`faas_gateway::serve`, the code the
//! `faas-gateway` binary runs) on 127.0.0.1:0 with basic auth and the embedded async queue, over
//! MemoryProvider (every check must pass, none may skip); and the `faas-conformance gateway`
//! command against it.

#[path = "support/gateway.rs"]
mod gateway_support;

use std::time::Duration;

use faas_conformance::gateway::{self, GatewayOptions};
use faas_conformance::report::Outcome;
use gateway_support::{PASSWORD, USER, start_gateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_suite_passes_against_the_real_gateway() {
    let gw = start_gateway().await;
    let options =
        GatewayOptions::new(&gw.url, USER, PASSWORD).with_deadlines(Duration::from_secs(10));
    let report = gateway::run(&options).await;
    print!("{}", report.table());
    assert!(report.is_success(), "{}", report.table());
    // The real gateway serves every feature the suite checks (async on the embedded queue
    // included): nothing may skip.
    let skipped: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Skipped(reason) => Some(format!("{}: {reason}", c.id)),
            _ => None,
        })
        .collect();
    assert!(
        skipped.is_empty(),
        "skipped: {skipped:#?}\n{}",
        report.table()
    );
    assert_eq!(report.cases.len(), gateway::cases::all().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_the_suite() {
    let gw = start_gateway().await;
    let mut options = GatewayOptions::new(&gw.url, USER, "not-the-password")
        .with_deadlines(Duration::from_secs(5));
    options.filter = vec!["system_info".into(), "healthz".into()];
    let report = gateway::run(&options).await;
    assert_eq!(
        report.get("gateway::healthz").map(|c| c.outcome.clone()),
        Some(Outcome::Passed)
    );
    let info = report
        .get("gateway::system_info")
        .map(|c| c.outcome.clone());
    assert!(
        matches!(&info, Some(Outcome::Failed(r)) if r.starts_with("GW-3") && r.contains("401")),
        "{info:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_certifies_the_gateway() {
    let gw = start_gateway().await;
    let url = &gw.url;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap_or_else(|e| panic!("{e}"));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_faas-conformance"))
        .args([
            "gateway",
            "--url",
            url,
            "--user",
            USER,
            "--ready-timeout",
            "10",
            "--filter",
            "gateway::invoke_verbs",
            "--filter",
            "gateway::auth_required",
        ])
        .arg("--password-file")
        .arg(&password_file)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running the CLI: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("gateway {url}: 2 passed, 0 failed, 0 skipped")),
        "{stdout}"
    );
}
