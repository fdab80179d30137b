//! Shared helpers of the real-engine tests: the skip switch, the fixture image, a provider and
//! a tiny HTTP client for 127.0.0.1.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use faas_provider_docker::{DockerConfig, DockerProvider};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The fixture inside the image.
pub const FIXTURE: &str = "/faas-docker-fixture";

/// Whether the real-engine tests run (`FAAS_TEST_DOCKER=1`); prints why not otherwise.
pub fn enabled(test: &str) -> bool {
    if std::env::var("FAAS_TEST_DOCKER").is_ok_and(|v| v == "1") {
        return true;
    }
    println!(
        "skipping {test}: set FAAS_TEST_DOCKER=1 with a Swarm manager running (scripts/services.sh start_docker)"
    );
    false
}

/// A name unique to this test process: `<prefix>-<pid base36>`.
pub fn unique(prefix: &str) -> String {
    let mut n = std::process::id() as u64 * 1000
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_millis() as u64);
    let mut s = String::new();
    while n > 0 {
        let d = (n % 36) as u32;
        s.insert(0, char::from_digit(d, 36).unwrap());
        n /= 36;
    }
    format!("{prefix}-{s}")
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const DOCKERFILE: &str = "FROM scratch\nCOPY faas-docker-fixture /faas-docker-fixture\nENTRYPOINT [\"/faas-docker-fixture\", \"serve\"]\n";

/// The test function image, built once per content (tag = hash of the fixture source and
/// Dockerfile) and reused by every later run: a static `faas-docker-fixture` in `FROM scratch`,
/// serving HTTP on 8080 and running `fprocess` per request.
pub fn fixture_image() -> String {
    let source_path = manifest_dir().join("src/bin/fixture.rs");
    let source = std::fs::read(&source_path).expect("read fixture source");
    let mut hash = Sha256::new();
    hash.update(&source);
    hash.update(DOCKERFILE.as_bytes());
    let digest = hash.finalize();
    let tag: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let image = format!("faas-docker-fixture:{tag}");

    // One builder at a time across the parallel test processes.
    let lock_path = std::env::temp_dir().join("faas-docker-fixture.lock");
    let lock = std::fs::File::create(&lock_path).expect("lock file");
    lock.lock().expect("lock");
    if image_exists(&image) {
        return image;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = dir.path().join("faas-docker-fixture");
    let status = Command::new("rustc")
        .current_dir(manifest_dir())
        .args([
            "--edition",
            "2024",
            "-C",
            "opt-level=2",
            "-C",
            "target-feature=+crt-static",
        ])
        .args(["--target", "x86_64-unknown-linux-gnu", "-o"])
        .arg(&binary)
        .arg(&source_path)
        .status()
        .expect("run rustc");
    assert!(status.success(), "building the static fixture failed");
    std::fs::File::create(dir.path().join("Dockerfile"))
        .and_then(|mut f| f.write_all(DOCKERFILE.as_bytes()))
        .expect("write Dockerfile");
    docker_build(dir.path(), &image);
    image
}

fn image_exists(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn docker_build(context: &Path, image: &str) {
    let out = Command::new("docker")
        .args(["build", "-q", "-t", image])
        .arg(context)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("run docker build");
    assert!(
        out.status.success(),
        "docker build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The provider as the tests use it: defaults (published resolve mode, the default socket or
/// `DOCKER_HOST`).
pub async fn provider() -> DockerProvider {
    let config = DockerConfig::from_lookup(|k| std::env::var(k).ok()).expect("config");
    DockerProvider::new(config).await.expect("docker provider")
}

/// `METHOD path` on `127.0.0.1:port` with `body`; returns (status, body).
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .map_err(|_| std::io::Error::other("timeout"))??;
    let text = String::from_utf8_lossy(&out);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body_at = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(out.len());
    Ok((status, out[body_at..].to_vec()))
}

/// Names of Swarm objects (services, secrets, configs, containers) whose name contains `needle`.
pub fn leftovers(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for args in [
        vec!["service", "ls", "--format", "{{.Name}}"],
        vec!["secret", "ls", "--format", "{{.Name}}"],
        vec!["config", "ls", "--format", "{{.Name}}"],
        vec!["ps", "-a", "--format", "{{.Names}}"],
    ] {
        if let Ok(o) = Command::new("docker").args(&args).output() {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                if line.contains(needle) {
                    out.push(format!("{} {line}", args[0]));
                }
            }
        }
    }
    out
}
