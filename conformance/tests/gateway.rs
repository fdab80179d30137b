//! The gateway suite against the real gateway (`faas_gateway::serve`, the code the
//! `faas-gateway` binary runs) on 127.0.0.1:0 with basic auth, over MemoryProvider; and the
//! `faas-conformance gateway` command against it.

use std::sync::Arc;
use std::time::Duration;

use faas_conformance::gateway::{self, GatewayOptions};
use faas_conformance::report::Outcome;
use faas_core::memory::MemoryProvider;
use faas_gateway::auth::Credentials;
use faas_gateway::{AppState, GatewayConfig, serve};
use tokio::net::TcpListener;

const USER: &str = "admin";
const PASSWORD: &str = "conformance-password";

/// Starts a gateway with basic auth over a fresh MemoryProvider; returns its URL and a stopper.
async fn start_gateway() -> (String, tokio::sync::oneshot::Sender<()>) {
    let config = GatewayConfig {
        basic_auth: true,
        ..GatewayConfig::default()
    };
    let provider = Arc::new(MemoryProvider::new());
    let state = AppState::new(config, provider, Some(Credentials::new(USER, PASSWORD)))
        .await
        .unwrap_or_else(|e| panic!("gateway state: {e}"));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));
    (url, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_suite_passes_against_the_real_gateway() {
    let (url, _stop) = start_gateway().await;
    let options = GatewayOptions::new(&url, USER, PASSWORD).with_deadlines(Duration::from_secs(10));
    let report = gateway::run(&options).await;
    print!("{}", report.table());
    assert!(report.is_success(), "{}", report.table());
    for case in &report.cases {
        if let Outcome::Skipped(reason) = &case.outcome {
            println!("note: {} skipped: {reason}", case.id);
        }
    }
    assert_eq!(report.cases.len(), gateway::cases::all().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_the_suite() {
    let (url, _stop) = start_gateway().await;
    let mut options =
        GatewayOptions::new(&url, USER, "not-the-password").with_deadlines(Duration::from_secs(5));
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
    let (url, _stop) = start_gateway().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap_or_else(|e| panic!("{e}"));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_faas-conformance"))
        .args([
            "gateway",
            "--url",
            &url,
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
