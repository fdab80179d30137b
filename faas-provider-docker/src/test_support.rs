//! Helpers for real-engine tests, shared by this crate's tests, the gateway's Docker
//! end-to-end test and the benchmark (feature `test-support`; not part of the provider).
//!
//! - [`enabled`]: the `FAAS_TEST_DOCKER=1` switch, printing why a test is skipped;
//! - [`fixture_images`]: the test function image, built locally (no registry) from the static
//!   `faas-watchdog` and `faas-docker-fixture` in `FROM scratch`, reused while its content is
//!   unchanged;
//! - [`http`]: a minimal HTTP/1.1 client for `127.0.0.1`;
//! - [`leftovers`], [`leftovers_labelled`] and [`Cleanup`]: what a test left on the engine, and
//!   best-effort removal after a failure.
//!
//! Everything here shells out to the `docker` CLI or `cargo`/`rustc` and returns
//! `std::io::Error` with what failed; it is for tests, benchmarks and examples only.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The fixture program's path inside the image: `"{FIXTURE} echo"` is an echo function.
pub const FIXTURE: &str = "/faas-docker-fixture";

/// The variable that switches real-engine tests on.
pub const ENABLE_VAR: &str = "FAAS_TEST_DOCKER";

/// Whether real-engine tests run (`FAAS_TEST_DOCKER=1`); prints why `test` is skipped
/// otherwise.
pub fn enabled(test: &str) -> bool {
    if std::env::var(ENABLE_VAR).is_ok_and(|v| v == "1") {
        return true;
    }
    println!(
        "skipping {test}: set {ENABLE_VAR}=1 with a Swarm manager running (source scripts/services.sh && start_docker)"
    );
    false
}

/// A name unique to this process and moment: `<prefix>-<base36>`.
pub fn unique(prefix: &str) -> String {
    let mut n = u64::from(std::process::id()) * 1000
        + u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_millis(),
        );
    let mut s = String::new();
    while n > 0 {
        if let Some(c) = char::from_digit((n % 36) as u32, 36) {
            s.insert(0, c);
        }
        n /= 36;
    }
    format!("{prefix}-{s}")
}

/// The two tags of the test function image (same content; the second serves as an "updated"
/// image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureImages {
    /// `faas-docker-fixture:<content hash>`.
    pub image: String,
    /// `faas-docker-fixture:<content hash>-b`.
    pub update_image: String,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workspace_dir() -> PathBuf {
    manifest_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(manifest_dir)
}

const DOCKERFILE_FIXTURE_ONLY: &str = "FROM scratch\nCOPY faas-docker-fixture /faas-docker-fixture\nENTRYPOINT [\"/faas-docker-fixture\", \"serve\"]\n";
// The watchdog writes its readiness lock file to /tmp, which `scratch` lacks: an empty folder
// from the build context provides it.
const DOCKERFILE_WATCHDOG: &str = "FROM scratch\nCOPY tmp /tmp\nCOPY faas-docker-fixture /faas-docker-fixture\nCOPY faas-watchdog /faas-watchdog\nENTRYPOINT [\"/faas-watchdog\"]\n";

fn fail(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
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
/// Falls back, with a printed note, to the fixture's own `serve` mode when the watchdog does
/// not build. One builder at a time across processes (a lock file in the temp folder).
pub fn fixture_images() -> io::Result<FixtureImages> {
    let lock = std::fs::File::create(std::env::temp_dir().join("faas-docker-fixture.lock"))?;
    lock.lock()?;

    let dir = tempfile::tempdir()?;
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
        .status()?;
    if !status.success() {
        return Err(fail("building the static fixture with rustc failed"));
    }
    let mut hash = Sha256::new();
    hash.update(std::fs::read(&source_path)?);
    let dockerfile = match static_watchdog() {
        Some(watchdog) => {
            std::fs::copy(&watchdog, dir.path().join("faas-watchdog"))?;
            hash.update(std::fs::read(&watchdog)?);
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
    let images = FixtureImages {
        image: format!("faas-docker-fixture:{tag}"),
        update_image: format!("faas-docker-fixture:{tag}-b"),
    };
    if !image_exists(&images.image) || !image_exists(&images.update_image) {
        std::fs::create_dir_all(dir.path().join("tmp"))?;
        std::fs::File::create(dir.path().join("Dockerfile"))?.write_all(dockerfile.as_bytes())?;
        docker_build(dir.path(), &images.image)?;
        docker(&["tag", &images.image, &images.update_image])?;
    }
    Ok(images)
}

fn image_exists(image: &str) -> bool {
    docker(&["image", "inspect", "--format", "{{.Id}}", image]).is_ok()
}

fn docker_build(context: &Path, image: &str) -> io::Result<()> {
    let out = Command::new("docker")
        .args(["build", "-q", "-t", image])
        .arg(context)
        .env("DOCKER_BUILDKIT", "0")
        .output()?;
    if !out.status.success() {
        return Err(fail(format!(
            "docker build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Runs `docker ARGS…`; its stdout on success.
pub fn docker(args: &[&str]) -> io::Result<String> {
    let out = Command::new("docker").args(args).output()?;
    if !out.status.success() {
        return Err(fail(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `METHOD path` on `127.0.0.1:port` with `body` (`Connection: close`, 10 s deadline);
/// returns (status, body), chunked bodies decoded.
pub async fn http(port: u16, method: &str, path: &str, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
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
        .map_err(|_| fail("timeout"))??;
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

fn lines(args: &[&str]) -> Vec<String> {
    docker(args)
        .map(|o| o.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Services, secrets, configs and containers whose name contains `needle`, as
/// `"<kind> <name>"`.
pub fn leftovers(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for args in [
        ["service", "ls", "--format", "{{.Name}}"],
        ["secret", "ls", "--format", "{{.Name}}"],
        ["config", "ls", "--format", "{{.Name}}"],
        ["ps", "-a", "--format", "{{.Names}}"],
    ] {
        for line in lines(&args) {
            if line.contains(needle) {
                out.push(format!("{} {line}", args[0]));
            }
        }
    }
    out
}

/// Services, secrets and configs carrying label `key` (any value), and containers of services
/// whose name contains `needle` (Swarm names task containers `<service>.<slot>.<task>`), as
/// `"<kind> <name>"`.
pub fn leftovers_labelled(key: &str, needle: &str) -> Vec<String> {
    let filter = format!("label={key}");
    let mut out = Vec::new();
    for kind in ["service", "secret", "config"] {
        for line in lines(&[kind, "ls", "--filter", &filter, "--format", "{{.Name}}"]) {
            out.push(format!("{kind} {line}"));
        }
    }
    for line in lines(&[
        "ps",
        "-a",
        "--filter",
        "label=com.docker.swarm.service.name",
        "--format",
        "{{.Names}}",
    ]) {
        if line.contains(needle) {
            out.push(format!("container {line}"));
        }
    }
    out
}

/// Removes, on drop (also after a failed assertion), every service, secret and config whose
/// name contains the string, through the docker CLI.
#[derive(Debug)]
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for kind in ["service", "secret", "config"] {
            let names: Vec<String> = lines(&[kind, "ls", "--format", "{{.Name}}"])
                .into_iter()
                .filter(|l| l.contains(&self.0))
                .collect();
            if !names.is_empty() {
                let mut args = vec![kind, "rm"];
                args.extend(names.iter().map(String::as_str));
                let _ = docker(&args);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
        assert!(unique("x").starts_with("x-"));
    }
}
