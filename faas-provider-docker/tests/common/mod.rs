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

const DOCKERFILE_FIXTURE_ONLY: &str = "FROM scratch\nCOPY faas-docker-fixture /faas-docker-fixture\nENTRYPOINT [\"/faas-docker-fixture\", \"serve\"]\n";
// The watchdog writes its readiness lock file to /tmp, which `scratch` lacks: an empty folder
// from the build context provides it.
const DOCKERFILE_WATCHDOG: &str = "FROM scratch\nCOPY tmp /tmp\nCOPY faas-docker-fixture /faas-docker-fixture\nCOPY faas-watchdog /faas-watchdog\nENTRYPOINT [\"/faas-watchdog\"]\n";

fn workspace_dir() -> PathBuf {
    manifest_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(manifest_dir)
}

/// The static `faas-watchdog` (debug profile, gnu target with crt-static: its own artifact
/// folder, so host builds are not disturbed); `None` when it does not build.
fn static_watchdog() -> Option<PathBuf> {
    let status = Command::new("cargo")
        .current_dir(workspace_dir())
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args([
            "build",
            "-q",
            "--target",
            "x86_64-unknown-linux-gnu",
            "-p",
            "faas-watchdog",
            "--bin",
            "faas-watchdog",
        ])
        .status()
        .ok()?;
    let path = workspace_dir().join("target/x86_64-unknown-linux-gnu/debug/faas-watchdog");
    (status.success() && path.exists()).then_some(path)
}

/// The test function images, built once per content (the tag is a hash of the binaries and
/// the Dockerfile) and reused by later runs: `FROM scratch` with the static `faas-watchdog`
/// (classic mode, `fprocess` per request) and the static `faas-docker-fixture` as the command.
/// Returns `(image, update_image)`: the same content under two tags. Falls back, with a
/// printed note, to the fixture's own `serve` mode when the watchdog does not build.
pub fn fixture_images() -> (String, String) {
    // One builder at a time across the parallel test processes.
    let lock_path = std::env::temp_dir().join("faas-docker-fixture.lock");
    let lock = std::fs::File::create(&lock_path).expect("lock file");
    lock.lock().expect("lock");

    let dir = tempfile::tempdir().expect("temp dir");
    let source_path = manifest_dir().join("src/bin/fixture.rs");
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
    let mut hash = Sha256::new();
    hash.update(std::fs::read(&source_path).expect("read fixture source"));
    let dockerfile = match static_watchdog() {
        Some(watchdog) => {
            std::fs::copy(&watchdog, dir.path().join("faas-watchdog")).expect("copy watchdog");
            hash.update(std::fs::read(&watchdog).expect("read watchdog"));
            DOCKERFILE_WATCHDOG
        }
        None => {
            println!(
                "note: faas-watchdog did not build statically; images use the fixture's serve mode"
            );
            DOCKERFILE_FIXTURE_ONLY
        }
    };
    hash.update(dockerfile.as_bytes());
    let tag: String = hash
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let image = format!("faas-docker-fixture:{tag}");
    let update_image = format!("faas-docker-fixture:{tag}-b");
    if !image_exists(&image) || !image_exists(&update_image) {
        std::fs::create_dir_all(dir.path().join("tmp")).expect("tmp folder");
        std::fs::File::create(dir.path().join("Dockerfile"))
            .and_then(|mut f| f.write_all(dockerfile.as_bytes()))
            .expect("write Dockerfile");
        docker_build(dir.path(), &image);
        let out = Command::new("docker")
            .args(["tag", &image, &update_image])
            .output()
            .expect("docker tag");
        assert!(out.status.success(), "docker tag failed");
    }
    (image, update_image)
}

/// The test function image (see [`fixture_images`]).
pub fn fixture_image() -> String {
    fixture_images().0
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
    let head = String::from_utf8_lossy(&out[..body_at]).to_ascii_lowercase();
    let body = &out[body_at..];
    if head.contains("transfer-encoding: chunked") {
        return Ok((status, dechunk(body)));
    }
    Ok((status, body.to_vec()))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        body = &body[eol + 2..];
        if size == 0 || body.len() < size {
            break;
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or(&[]);
    }
    out
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

/// Removes, on drop (also after a failed assertion), every service, secret and config whose
/// name contains `needle`, through the docker CLI.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (kind, fmt) in [
            ("service", "{{.Name}}"),
            ("secret", "{{.Name}}"),
            ("config", "{{.Name}}"),
        ] {
            let Ok(out) = Command::new("docker")
                .args([kind, "ls", "--format", fmt])
                .output()
            else {
                continue;
            };
            let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.contains(&self.0))
                .map(str::to_owned)
                .collect();
            if !names.is_empty() {
                let _ = Command::new("docker")
                    .args([kind, "rm"])
                    .args(&names)
                    .output();
            }
        }
    }
}
