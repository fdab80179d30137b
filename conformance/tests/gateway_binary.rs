//! The gateway suite against the real `faas-gateway` binary with its defaults (the local
//! provider, functions as real processes; async invocations on the embedded queue), through the
//! `faas-conformance gateway` command. Every check must PASS: a skip fails this test, naming the
//! check and its reason.
//!
//! The binary is `FAAS_GATEWAY_BIN` when set (it must exist). Otherwise this test runs
//! `cargo build -p faas-gateway --bins` (same profile and target directory as this test; a no-op
//! when the binary is fresh, so a stale binary is never tested) and fails with cargo's output
//! when that does not produce one. It never passes without running the suite.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use faas_conformance::wait::{Probe, eventually};
use tokio::process::Command;

const EXE: &str = std::env::consts::EXE_SUFFIX;

/// The directory binaries of this test's profile land in: this test runs as
/// `<target>/<profile>/deps/gateway_binary-<hash>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("{} has no <target>/<profile>/deps parent", exe.display()))
}

/// `FAAS_GATEWAY_BIN`, or the `faas-gateway` binary built now next to this test's profile.
async fn gateway_binary() -> PathBuf {
    if let Ok(p) = std::env::var("FAAS_GATEWAY_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "FAAS_GATEWAY_BIN={} is not a file: point it at a built faas-gateway binary or unset it to build one",
            p.display()
        );
        return p;
    }
    let dir = profile_dir();
    let target_dir = dir
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent", dir.display()));
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "-p", "faas-gateway", "--bins"])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdin(Stdio::null());
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd.output().await.unwrap_or_else(|e| {
        panic!("running `{cargo} build -p faas-gateway --bins` to build the gateway: {e} (or set FAAS_GATEWAY_BIN)")
    });
    let bin = dir.join(format!("faas-gateway{EXE}"));
    assert!(
        out.status.success() && bin.is_file(),
        "`{cargo} build -p faas-gateway --bins --target-dir {}` ({}) did not produce {}; set FAAS_GATEWAY_BIN to use a built binary.\n{}",
        target_dir.display(),
        out.status,
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr().unwrap_or_else(|e| panic!("{e}")).port()
}

/// The gateway checks that did not PASS in the CLI's table `stdout`: their rows (a skip shows
/// its reason), and those that did not run at all.
fn not_passed(stdout: &str) -> Vec<String> {
    let rows: Vec<(&str, &str, &str)> = stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let id = words.next()?;
            let _clause = words.next()?;
            let result = words.next()?;
            id.starts_with("gateway::")
                .then(|| (id, result, l.trim_end()))
        })
        .collect();
    let mut problems = Vec::new();
    for case in faas_conformance::gateway::cases::all() {
        match rows.iter().find(|(id, _, _)| *id == case.id) {
            None => problems.push(format!("{} ({}) did not run", case.id, case.clause)),
            Some((_, "PASSED", _)) => {}
            Some((_, _, line)) => problems.push((*line).to_owned()),
        }
    }
    problems
}

#[test]
fn a_skip_or_a_missing_check_is_not_a_pass() {
    let mut table = String::from("ID  CLAUSE  RESULT  TIME  REASON\n");
    for case in faas_conformance::gateway::cases::all() {
        match case.id {
            "gateway::async_invoke" => table.push_str(&format!(
                "{}  {}  SKIPPED  0.01s  the gateway does not serve async invocation\n",
                case.id, case.clause
            )),
            "gateway::headers" => {}
            id => table.push_str(&format!("{id}  {}  PASSED  0.01s\n", case.clause)),
        }
    }
    let problems = not_passed(&table);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("gateway::async_invoke")
                && p.contains("SKIPPED")
                && p.contains("does not serve async invocation")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p == "gateway::headers (GW-16) did not run"),
        "{problems:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_binary_on_the_local_provider_passes_the_gateway_suite() {
    let bin = gateway_binary().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "conformance-pw\n").unwrap_or_else(|e| panic!("{e}"));
    let log_path = dir.path().join("gateway.log");
    let log = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://127.0.0.1:{}", free_port());
    let mut gateway = Command::new(&bin);
    // The gateway's defaults, whatever the environment configures (FAAS_QUEUE=none, …).
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FAAS_") {
            gateway.env_remove(&key);
        }
    }
    let mut gateway = gateway
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
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let gateway_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let health = format!("{url}/healthz");
    let up = eventually(Duration::from_secs(30), || async {
        match reqwest::get(&health).await {
            Ok(r) if r.status().is_success() => Probe::Done(()),
            Ok(r) => Probe::Pending(format!("{}", r.status())),
            Err(e) => Probe::Pending(e.to_string()),
        }
    })
    .await;
    assert!(
        up.is_ok(),
        "{} never became healthy: {up:?}\n{}",
        bin.display(),
        gateway_log()
    );

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
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
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
    let context = format!(
        "{stdout}\n--- CLI stderr ---\n{}\n--- gateway log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        gateway_log()
    );

    // Every check the suite has must have run and PASSED: a skip (say GW-14 answering 404 on
    // /async-function/) is a gap in the gateway, not a pass.
    let problems = not_passed(&stdout);
    assert!(
        problems.is_empty(),
        "checks that did not pass (skips included):\n{}\n\n{context}",
        problems.join("\n")
    );
    assert_eq!(out.status.code(), Some(0), "{context}");
    assert!(
        stdout.contains(&format!(
            "{} passed, 0 failed, 0 skipped",
            faas_conformance::gateway::cases::all().len()
        )),
        "{context}"
    );
}
