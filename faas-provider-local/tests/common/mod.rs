//! Shared helpers of the integration tests: a provider on a fresh data directory and a tiny
//! HTTP/1.1 client (loopback only).
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use faas_core::{Endpoint, FunctionDeployment, Provider};
use faas_provider_local::{LocalConfig, LocalProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const READY: Duration = Duration::from_secs(10);

/// Where the tests put files their functions run or read: never under `/tmp`, since an isolated
/// replica has a private `/tmp` (and the provider refuses commands from there). Cargo's target
/// tmp dir, unless the checkout itself lives under `/tmp`; then `/var/tmp`.
pub fn test_root() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if !target.starts_with("/tmp") {
        return target;
    }
    let root = PathBuf::from("/var/tmp/faas-provider-local-tests");
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// A fresh temp dir under [`test_root`].
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(test_root()).unwrap()
}

pub fn config(dir: &Path) -> LocalConfig {
    LocalConfig::new(dir.join("data")).with_stop_timeout(Duration::from_millis(500))
}

pub async fn provider(dir: &Path) -> LocalProvider {
    LocalProvider::new(config(dir)).await.unwrap()
}

/// The http-mode fixture program, at a path functions can see: cargo's binary, or (when the
/// target dir is under `/tmp`) a copy under [`test_root`] named after the binary's size and
/// mtime, put in place with an atomic rename so parallel test processes share one copy.
pub fn fixture() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let built = Path::new(env!("CARGO_BIN_EXE_faas-local-http-fixture"));
        if !built.starts_with("/tmp") {
            return built.display().to_string();
        }
        let meta = std::fs::metadata(built).unwrap();
        let stamp = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let dir = test_root().join("bin");
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join(format!("faas-local-http-fixture-{}-{stamp}", meta.len()));
        if !copy.exists() {
            let part = dir.join(format!(".fixture-{}", std::process::id()));
            std::fs::copy(built, &part).unwrap();
            std::fs::rename(&part, &copy).unwrap();
        }
        copy.display().to_string()
    })
}

pub fn http_fn(name: &str) -> FunctionDeployment {
    FunctionDeployment::new(name, "local/fixture:latest")
        .with_env_process(fixture())
        .with_env("mode", "http")
        .with_env("upstream_url", "http://127.0.0.1:5000")
}

/// Writes an executable shell script and returns its path.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// One HTTP/1.1 call with `Connection: close`; returns status and (de-chunked) body.
pub async fn call(ep: &Endpoint, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(ep.authority())
        .await
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        ep.authority(),
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut rest = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        rest = dechunk(&rest);
    }
    (status, rest)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Deploys and waits for the first ready endpoint.
pub async fn deploy_ready(p: &LocalProvider, d: FunctionDeployment) -> Endpoint {
    let (name, ns) = (d.service.clone(), d.namespace.clone());
    p.deploy(d).await.unwrap();
    p.wait_ready(&name, &ns, READY).await.unwrap().remove(0)
}

/// Calls until the answer is 200 or the deadline passes (for restarts).
pub async fn call_until_ok(p: &LocalProvider, name: &str, path: &str) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + READY;
    loop {
        if let Ok(eps) = p.wait_ready(name, "", READY).await
            && let Some(ep) = eps.first()
        {
            let (status, body) = call(ep, "GET", path, b"").await;
            if status == 200 {
                return body;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} did not answer 200 in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The pids of processes whose environment holds `marker` (a `/proc` scan).
pub fn pids_with_marker(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(entry.path().join("environ"))
            && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
        {
            // Zombies have an empty environ; a live match is a real process.
            out.push(pid);
        }
    }
    out
}

/// Waits (with a deadline) until no process carries `marker`.
pub async fn assert_no_processes(marker: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let pids = pids_with_marker(marker);
        if pids.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "processes left behind: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
