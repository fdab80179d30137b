//! End to end on a real Docker Swarm (skipped with a message unless `FAAS_TEST_DOCKER=1`): the
//! real `faas-gateway` binary with `--provider docker` (published resolve mode, functions
//! reached on 127.0.0.1 only) deploys the fixture image, invokes it, scales it to zero and
//! invokes it again (scale from zero through the gateway), reads its logs, deletes it and its
//! secret, and leaves no service, container or secret behind.
//!
//! The gateway runs with its own label prefix (`FAAS_DOCKER_LABEL_PREFIX`), so everything it
//! creates is found by label, whatever else runs on the engine. In the `docker-engine` nextest
//! group (see `.config/nextest.toml`): never beside the engine-restart test.

#![cfg(feature = "docker")]
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Gw, basic};
use faas_provider_docker::test_support::{self, Cleanup, FIXTURE};
use http::{Method, StatusCode};
use serde_json::json;

const READY: Duration = Duration::from_secs(60);

/// The gateway process; killed on drop.
struct Gateway {
    child: Child,
    gw: Gw,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `faas-gateway --provider docker` on 127.0.0.1 (OS-chosen port), its Docker objects
/// labelled under `label_prefix`, and waits for its "gateway listening" line.
fn start_gateway(label_prefix: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faas-gateway"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-json",
            "--provider",
            "docker",
        ])
        .args(["--docker-resolve", "published"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--secret-mount-path")
        .arg(dir.path().join("no-secrets"))
        .env("FAAS_DOCKER_LABEL_PREFIX", label_prefix)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gateway binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if tx.send(v).is_err() {
                eprintln!("gateway: {line}");
            }
        }
    });
    let addr = loop {
        let v = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("gateway reports its address");
        if v["fields"]["message"] == "gateway listening" {
            break v["fields"]["listen"].as_str().unwrap().to_owned();
        }
    };
    let password = std::fs::read_to_string(data.join("gateway/basic-auth-password")).unwrap();
    Gateway {
        child,
        gw: Gw::new(
            format!("http://{addr}"),
            Some(basic("admin", password.trim())),
        ),
        _dir: dir,
    }
}

async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    let mut step = Duration::from_millis(20);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(step).await;
        step = (step * 2).min(Duration::from_millis(250));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_runs_a_function_on_a_real_swarm() {
    if !test_support::enabled("gateway_runs_a_function_on_a_real_swarm") {
        return;
    }
    let image = test_support::fixture_images().unwrap().image;
    let id = test_support::unique("gwe2e");
    let label_prefix = format!("faas.{id}.");
    let managed = format!("{label_prefix}managed");
    let name = format!("{id}-echo");
    let secret = format!("{id}-key");
    let _cleanup = Cleanup(id.clone());
    let gateway = start_gateway(&label_prefix);
    let gw = &gateway.gw;
    let anon = gw.without_auth();

    let info = gw.get("/system/info").await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(
        info.json()["provider"]["orchestration"],
        "swarm",
        "{}",
        info.text()
    );

    // A secret, then a function that mounts it.
    let r = gw
        .json(
            Method::POST,
            "/system/secrets",
            json!({"name": secret, "value": "s3cret"}),
        )
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text());
    let started = Instant::now();
    let r = gw
        .json(
            Method::POST,
            "/system/functions",
            json!({
                "service": name,
                "image": image,
                "envProcess": format!("{FIXTURE} echo"),
                "secrets": [secret],
                "labels": {"team": "blue"},
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());

    // The first call waits for the new replica (the gateway's scale-from-zero path waits on
    // readiness); answers 200 with the echo.
    let path = format!("/function/{name}");
    let r = anon.send(Method::POST, &path, &[], "hello swarm").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::OK, "hello swarm")
    );
    println!("gateway: deploy -> first response {:?}", started.elapsed());
    assert!(r.headers.contains_key("x-call-id"));

    let f = gw.get(&format!("/system/function/{name}")).await.json();
    assert_eq!(f["replicas"], 1, "{f}");
    assert_eq!(f["availableReplicas"], 1, "{f}");
    assert_eq!(f["labels"]["team"], "blue", "{f}");
    assert_eq!(f["secrets"], json!([secret]), "{f}");
    let list = gw.get("/system/functions").await.json();
    assert!(
        list.as_array().unwrap().iter().any(|f| f["name"] == name),
        "{list}"
    );

    // Scale to zero; the function stays listed with no ready replica.
    let r = gw
        .json(
            Method::POST,
            &format!("/system/scale-function/{name}"),
            json!({"serviceName": name, "replicas": 0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    wait_for("zero replicas", READY, || async {
        let f = gw.get(&format!("/system/function/{name}")).await.json();
        // OpenFaaS omits zero counts (`omitempty`), so absent means 0.
        let zero = |field: &str| f.get(field).is_none_or(|v| v == 0);
        (zero("replicas") && zero("availableReplicas")).then_some(())
    })
    .await;

    // Scale from zero through the gateway: the call itself brings a replica back.
    let started = Instant::now();
    let r = anon.send(Method::POST, &path, &[], "cold").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "cold"));
    println!(
        "gateway: scale 0->1 -> first response {:?}",
        started.elapsed()
    );
    assert_eq!(
        gw.get(&format!("/system/function/{name}")).await.json()["replicas"],
        1
    );

    // Logs: the watchdog logs a line per call.
    let logs = wait_for("log lines", Duration::from_secs(20), || async {
        let r = gw
            .get(&format!("/system/logs?name={name}&follow=false"))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let text = r.text();
        text.lines()
            .any(|l| l.contains(&format!("\"name\":\"{name}\"")))
            .then_some(text)
    })
    .await;
    assert!(
        logs.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{logs}"
    );

    // Delete the function, then its secret.
    let r = gw
        .json(
            Method::DELETE,
            "/system/functions",
            json!({"functionName": name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(
        anon.send(Method::POST, &path, &[], "x").await.status,
        StatusCode::NOT_FOUND
    );
    let r = gw
        .json(Method::DELETE, "/system/secrets", json!({"name": secret}))
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text());

    // Nothing with the gateway's labels is left: no service, secret, config or container.
    wait_for(
        "the engine to be clean",
        Duration::from_secs(30),
        || async {
            let left = test_support::leftovers_labelled(&managed, &id);
            if left.is_empty() {
                Some(())
            } else {
                println!("still there: {left:?}");
                None
            }
        },
    )
    .await;
    assert!(test_support::leftovers(&id).is_empty());
}
