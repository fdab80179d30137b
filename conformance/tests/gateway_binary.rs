//! The gateway suite against the real `faas-gateway` binary on its default backend, the local
//! provider (functions are real processes), through the `faas-conformance gateway` command.
//!
//! The binary comes from `FAAS_GATEWAY_BIN`, else `target/debug/faas-gateway` (build it first:
//! `cargo build -p faas-gateway`). Without one the test prints why and returns.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use faas_conformance::wait::{Probe, eventually};
use tokio::process::Command;

fn gateway_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("FAAS_GATEWAY_BIN") {
        return Some(PathBuf::from(p));
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/faas-gateway");
    p.exists().then_some(p)
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr().unwrap_or_else(|e| panic!("{e}")).port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_binary_on_the_local_provider_passes_the_gateway_suite() {
    let Some(bin) = gateway_binary() else {
        println!(
            "SKIPPED: no faas-gateway binary (set FAAS_GATEWAY_BIN or run `cargo build -p faas-gateway`)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "conformance-pw\n").unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://127.0.0.1:{}", free_port());
    let mut gateway = Command::new(&bin)
        .args([
            "--listen",
            url.trim_start_matches("http://"),
            "--provider",
            "local",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("FAAS_BASIC_AUTH_USER", "admin")
        .env("FAAS_BASIC_AUTH_PASSWORD", "conformance-pw")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let health = format!("{url}/healthz");
    let up = eventually(Duration::from_secs(30), || async {
        match reqwest::get(&health).await {
            Ok(r) if r.status().is_success() => Probe::Done(()),
            Ok(r) => Probe::Pending(format!("{}", r.status())),
            Err(e) => Probe::Pending(e.to_string()),
        }
    })
    .await;
    assert!(up.is_ok(), "the gateway never became healthy: {up:?}");

    let out = Command::new(env!("CARGO_BIN_EXE_faas-conformance"))
        .args([
            "gateway",
            "--url",
            &url,
            "--user",
            "admin",
            "--ready-timeout",
            "30",
        ])
        .arg("--password-file")
        .arg(&password_file)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running the CLI: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    // SIGTERM, so the gateway stops the local provider's processes; SIGKILL only as a fallback.
    if let Some(pid) = gateway.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(15), gateway.wait())
        .await
        .is_err()
    {
        let _ = gateway.start_kill();
        let _ = gateway.wait().await;
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}
