//! The `faas-conformance` binary certifies a MemoryProvider served over gRPC on 127.0.0.1:
//! a passing run exits 0 and prints the table; a provider that breaks the contract exits 1.

use std::process::Stdio;
use std::sync::Arc;

use faas_core::Provider;
use faas_core::grpc::serve_with_shutdown;
use faas_core::memory::MemoryProvider;
use tokio::net::TcpListener;
use tokio::process::Command;

mod support;
use support::{Broken, Fault};

async fn serve(provider: Arc<dyn Provider>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_with_shutdown(provider, listener, async {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), stop)
}

async fn certify(endpoint: &str, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faas-conformance"))
        .args(["provider", "--grpc", endpoint, "--ready-timeout", "10"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("running the CLI: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certifies_a_conforming_provider_and_writes_junit() {
    let (endpoint, _stop) = serve(Arc::new(MemoryProvider::new())).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let junit = dir.path().join("report.xml");
    let junit_arg = junit.to_string_lossy().into_owned();
    let (code, stdout, stderr) = certify(&endpoint, &["--junit", &junit_arg]).await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.starts_with("ID "), "{stdout}");
    assert!(stdout.contains("deploy::get_shows_every_field"), "{stdout}");
    let dep1 = stdout
        .lines()
        .find(|l| l.starts_with("deploy::get_shows_every_field "))
        .unwrap_or_default();
    assert_eq!(
        dep1.split_whitespace().take(3).collect::<Vec<_>>(),
        ["deploy::get_shows_every_field", "DEP-1", "PASSED"],
        "{stdout}"
    );
    assert!(
        stdout.contains("unsupported::logs") && stdout.contains("SKIPPED"),
        "{stdout}"
    );
    // MemoryProvider declares every capability: only the 8 Unsupported checks skip.
    let total = faas_conformance::provider::all_cases().len();
    assert!(
        stdout.contains(&format!(
            "provider faas-memory: {} passed, 0 failed, 8 skipped",
            total - 8
        )),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap_or_else(|e| panic!("reading junit: {e}"));
    assert!(
        xml.contains(&format!(
            "<testsuite name=\"provider faas-memory\" tests=\"{total}\" failures=\"0\" skipped=\"8\""
        )),
        "{xml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_loses_labels_fails_with_exit_status_1() {
    let broken = Broken {
        inner: MemoryProvider::new(),
        fault: Fault::LosesLabels,
    };
    let (endpoint, _stop) = serve(Arc::new(broken)).await;
    let junit_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let junit = junit_dir
        .path()
        .join("r.xml")
        .to_string_lossy()
        .into_owned();
    let (code, stdout, stderr) =
        certify(&endpoint, &["--filter", "deploy::", "--junit", &junit]).await;
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let row = |id: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(id))
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
    };
    assert_eq!(
        row("deploy::get_shows_every_field").as_deref(),
        Some("deploy::get_shows_every_field DEP-1 FAILED"),
        "{stdout}"
    );
    assert_eq!(
        row("deploy::invents_nothing").as_deref(),
        Some("deploy::invents_nothing DEP-3 PASSED"),
        "{stdout}"
    );
    assert!(stdout.contains("labels.upstream_uri"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap_or_else(|e| panic!("{e}"));
    assert!(xml.contains("<failure message=\"DEP-1: "), "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_fails_every_check() {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let endpoint = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    drop(listener);
    let (code, stdout, _) = certify(&endpoint, &["--filter", "info::"]).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("info::identity") && stdout.contains("FAILED"),
        "{stdout}"
    );
}
