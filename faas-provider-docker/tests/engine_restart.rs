//! The provider survives a restart of the Docker engine: while `dockerd` is down every call is
//! `Unavailable` (never a hang, never a panic), and once it is back the same provider value
//! lists, resolves, invokes, deploys and deletes again.
//!
//! Restarting the engine is disruptive, so this runs only where the test script owns the engine
//! (`FAAS_TEST_DOCKER_RESTART=1`, exported by `scripts/services.sh` when it started `dockerd`
//! itself) and in the serial `docker-engine` nextest group (`.config/nextest.toml`) with every
//! other real-engine test, so no other test sees the engine go away.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Cleanup, FIXTURE, enabled, fixture_image, http, leftovers, provider, unique};
use faas_core::{ErrorKind, FunctionDeployment, Provider};

const READY: Duration = Duration::from_secs(60);

fn restart_enabled() -> bool {
    if std::env::var("FAAS_TEST_DOCKER_RESTART").is_ok_and(|v| v == "1") {
        return true;
    }
    println!(
        "skipping provider_survives_an_engine_restart: set FAAS_TEST_DOCKER_RESTART=1 where \
         this test may stop and start dockerd (scripts/test.sh does when it started dockerd)"
    );
    false
}

fn dockerd_pid() -> Option<u32> {
    let out = Command::new("pidof").arg("dockerd").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn engine_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.Swarm.ControlAvailable}}"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true")
}

/// Stops dockerd (SIGTERM) and waits until it has exited.
fn stop_engine() {
    let pid = dockerd_pid().expect("dockerd runs");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let until = Instant::now() + Duration::from_secs(60);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < until, "dockerd did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts dockerd again as `scripts/services.sh` does (detached, logging to its log file) and
/// waits until it is a Swarm manager again.
fn start_engine() {
    let dir = std::env::var("FAAS_RUN_DIR").unwrap_or_else(|_| "/tmp/faas-services".into());
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{dir}/dockerd.log"))
        .unwrap();
    Command::new("setsid")
        .args(["-f", "dockerd"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(90);
    while !engine_answers() {
        assert!(Instant::now() < until, "dockerd did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The script's record of the dockerd it owns follows the new process.
    if let Some(pid) = dockerd_pid() {
        let _ = std::fs::write(format!("{dir}/dockerd.pid"), format!("{pid}\n"));
    }
}

/// Starts the engine again if the test stops half-way, so later tests find it.
struct EngineGuard;

impl Drop for EngineGuard {
    fn drop(&mut self) {
        if dockerd_pid().is_none() {
            start_engine();
        }
    }
}

async fn invoke_when_ready(p: &impl Provider, name: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let until = Instant::now() + READY;
    loop {
        if let Ok(endpoints) = p.wait_ready(name, "", Duration::from_secs(10)).await
            && let Some(ep) = endpoints.first()
            && let Ok(answer) = http(ep.port, "POST", "/", body).await
            && answer.0 == 200
        {
            return answer;
        }
        assert!(Instant::now() < until, "{name} never answered again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_survives_an_engine_restart() {
    if !enabled("provider_survives_an_engine_restart") || !restart_enabled() {
        return;
    }
    let image = fixture_image();
    let p = provider().await;
    let before = unique("rst-a");
    let after = unique("rst-b");
    let _cleanup = (Cleanup(before.clone()), Cleanup(after.clone()));
    let echo = |name: &str| {
        FunctionDeployment::new(name, &image).with_env_process(format!("{FIXTURE} echo"))
    };
    p.deploy(echo(&before)).await.unwrap();
    assert_eq!(invoke_when_ready(&p, &before, b"one").await.1, b"one");

    let _guard = EngineGuard;
    stop_engine();
    // Down: a clear Unavailable, quickly, from every kind of call.
    let started = Instant::now();
    let err = p.list("").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert_eq!(p.health().await.unwrap_err().kind(), ErrorKind::Unavailable);
    assert_eq!(
        p.resolve(&before, "").await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "calls fail fast while the engine is down ({:?})",
        started.elapsed()
    );

    start_engine();
    // Back: the same provider value works again, without being rebuilt.
    let until = Instant::now() + READY;
    while p.health().await.is_err() {
        assert!(Instant::now() < until, "health never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(p.list("").await.unwrap().iter().any(|f| f.name == before));
    // Swarm restarts the function's task (on a new host port): resolve follows it.
    assert_eq!(invoke_when_ready(&p, &before, b"two").await.1, b"two");
    p.deploy(echo(&after)).await.unwrap();
    assert_eq!(invoke_when_ready(&p, &after, b"three").await.1, b"three");

    p.delete(&before, "").await.unwrap();
    p.delete(&after, "").await.unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while !(leftovers(&before).is_empty() && leftovers(&after).is_empty()) {
        assert!(Instant::now() < until, "left behind after the restart test");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
