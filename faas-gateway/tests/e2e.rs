//! End to end: the real `faas-gateway` binary on 127.0.0.1 (port chosen by the OS, temporary
//! data dir, generated credentials), driven over HTTP through a function's whole life.
//!
//! The lifecycle runs on the default local provider (real processes under the watchdog); a
//! second test covers 504, 503 (a function that never becomes ready) and a cold start there
//! too. 502 needs a replica that refuses or resets connections, which the watchdog in front of
//! every local function never does; it is covered in `tests/api.rs`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use common::{Gw, basic};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;

struct Gateway {
    child: Child,
    startup_logs: Vec<serde_json::Value>,
    gw: Gw,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `args` and waits for its "gateway listening" line.
fn start(args: &[&str]) -> Gateway {
    start_on("memory", args)
}

/// Starts the binary on `provider` with `args`.
fn start_on(provider: &str, args: &[&str]) -> Gateway {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faas-gateway"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-json",
            "--provider",
            provider,
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--secret-mount-path")
        .arg(dir.path().join("no-secrets"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gateway binary starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let _ = tx.send(v);
        }
    });
    let mut startup_logs = Vec::new();
    let addr = loop {
        let v = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("gateway reports its address");
        if v["fields"]["message"] == "gateway listening" {
            break v["fields"]["listen"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
        startup_logs.push(v);
    };
    let password = std::fs::read_to_string(data.join("gateway/basic-auth-password")).ok();
    let gw = Gw::new(
        format!("http://{addr}"),
        password.map(|p| basic("admin", p.trim())),
    );
    Gateway {
        child,
        startup_logs,
        gw,
        _dir: dir,
    }
}

/// A body of `len` bytes sent as a stream of 64 KiB chunks (chunked transfer encoding).
async fn stream_post(gw: &Gw, path: &str, len: usize) -> (StatusCode, Bytes) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let chunks = (0..len.div_ceil(65536)).map(move |i| {
        let n = (len - i * 65536).min(65536);
        Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(vec![
            (i % 251) as u8;
            n
        ])))
    });
    let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
    let req = http::Request::post(format!("{}{path}", gw.base))
        .body(body)
        .expect("request");
    let resp = client.request(req).await.expect("response");
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (status, bytes)
}

/// Declares `len` bytes in `Content-Length` but sends one chunk and then stalls: the gateway
/// must refuse from the header alone, without waiting for the body.
async fn post_declared_then_stall(gw: &Gw, path: &str, len: usize) -> StatusCode {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let chunks = futures::stream::unfold(0u8, |step| async move {
        match step {
            0 => Some((
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(vec![
                    0u8;
                    65536
                ]))),
                1,
            )),
            _ => {
                futures::future::pending::<()>().await;
                None
            }
        }
    });
    let body = http_body_util::StreamBody::new(Box::pin(chunks));
    let req = http::Request::post(format!("{}{path}", gw.base))
        .header("content-length", len.to_string())
        .body(body)
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .expect("refused without waiting for the body")
        .expect("response");
    resp.status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_through_its_whole_life() {
    let mut gateway = start_on("local", &["--max-body-bytes", "26214400"]);
    assert!(
        gateway
            .startup_logs
            .iter()
            .any(|l| l["fields"]["password_file"]
                .as_str()
                .is_some_and(|p| p.ends_with("gateway/basic-auth-password"))),
        "the generated password's path is printed: {:?}",
        gateway.startup_logs
    );
    let gw = gateway.gw.clone();
    let anon = gw.without_auth();

    // Auth is on by default.
    let r = anon.get("/system/functions").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Basic realm=\"Restricted\"");
    assert_eq!(anon.get("/healthz").await.status, StatusCode::OK);

    // Deploy and list.
    for (name, fprocess) in [("echo", "cat"), ("env-fn", "env")] {
        let r = gw.json(Method::POST, "/system/functions", json!({"service": name, "image": "functions/alpine:latest", "envProcess": fprocess})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    }
    let list = gw.get("/system/functions").await.json();
    let names: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["echo", "env-fn"]);

    // Every method, a sub-path and a raw query.
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let r = anon
            .send(m, "/function/env-fn/a/b?x=1&y=%2F&x=2", &[], Bytes::new())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{method}");
        let out = r.text();
        assert!(
            out.contains(&format!("Http_Method={method}"))
                && out.contains("Http_Query=x=1&y=%2F&x=2"),
            "{out}"
        );
        assert!(r.headers.contains_key("x-call-id") && r.headers.contains_key("x-start-time"));
    }
    // HEAD: the function runs, the answer has headers and no body.
    let r = anon
        .send(Method::HEAD, "/function/env-fn/a?h=1", &[], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::OK, "HEAD");
    assert!(r.text().is_empty(), "HEAD answers without a body");
    assert!(r.headers.contains_key("x-call-id") && r.headers.contains_key("x-start-time"));
    // OPTIONS reaches the function too (no CORS answer invented by the gateway).
    let r = anon
        .send(Method::OPTIONS, "/function/env-fn?o=1", &[], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::OK, "OPTIONS");
    assert!(
        r.text().contains("Http_Method=OPTIONS") && r.text().contains("Http_Query=o=1"),
        "{}",
        r.text()
    );
    // A binary body and a 20 MiB streamed body.
    let binary: Vec<u8> = (0..=255u8).rev().cycle().take(100_003).collect();
    let r = anon
        .send(Method::POST, "/function/echo", &[], binary.clone())
        .await;
    assert_eq!(r.body.as_ref(), binary.as_slice());
    let (status, echoed) = stream_post(&gw, "/function/echo", 20 * 1024 * 1024).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed.len(), 20 * 1024 * 1024);
    assert!(
        echoed
            .chunks(65536)
            .enumerate()
            .all(|(i, c)| c.iter().all(|b| *b == (i % 251) as u8)),
        "bytes intact"
    );
    // Over the limit: 413 when declared up front; a streamed body is cut at the limit (the
    // function may already have started answering, so the echo comes back short).
    let status = post_declared_then_stall(&gw, "/function/echo", 26 * 1024 * 1024).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, echoed) = stream_post(&gw, "/function/echo", 26 * 1024 * 1024).await;
    assert!(
        status == StatusCode::PAYLOAD_TOO_LARGE || echoed.len() <= 25 * 1024 * 1024,
        "{status} with {} bytes",
        echoed.len()
    );

    // Logs.
    let logs = gw.get("/system/logs?name=echo&follow=false").await;
    assert_eq!(logs.status, StatusCode::OK);
    assert!(
        logs.text().lines().any(|l| l.contains("\"name\":\"echo\"")),
        "{}",
        logs.text()
    );

    // Scale to zero, then a cold start on invoke.
    let r = gw
        .json(
            Method::POST,
            "/system/scale-function/echo",
            json!({"serviceName": "echo", "replicas": 0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(
        gw.get("/system/function/echo")
            .await
            .json()
            .get("availableReplicas")
            .is_none()
    );
    let r = anon.send(Method::POST, "/function/echo", &[], "cold").await;
    assert_eq!((r.status, r.text()), (StatusCode::OK, "cold".to_owned()));

    // Update, then delete.
    let r = gw
        .json(
            Method::PUT,
            "/system/functions",
            json!({"service": "echo", "image": "functions/alpine:2", "envProcess": "echo updated"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        gw.get("/system/function/echo").await.json()["image"],
        "functions/alpine:2"
    );
    let r = common::eventually(Duration::from_secs(5), || {
        let anon = anon.clone();
        async move {
            let r = anon.send(Method::POST, "/function/echo", &[], "x").await;
            (r.text() == "updated\n").then_some(r)
        }
    })
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = gw
        .json(
            Method::DELETE,
            "/system/functions",
            json!({"functionName": "echo"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        anon.send(Method::POST, "/function/echo", &[], "x")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        gw.json(
            Method::PUT,
            "/system/functions",
            json!({"service": "echo", "image": "x", "envProcess": "cat"})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    // Bad JSON names the field.
    let r = gw
        .send(Method::POST, "/system/functions", &[], "{\"service\": 5}")
        .await;
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("service"))
    );

    // Metrics carry the OpenFaaS series: 7 calls of env-fn (5 methods, HEAD, OPTIONS).
    let m = anon.get("/metrics").await.text();
    assert!(
        m.contains(
            "gateway_function_invocation_total{function_name=\"env-fn.openfaas-fn\",code=\"200\"} 7"
        ),
        "{m}"
    );

    // SIGTERM: exits 0.
    let pid = gateway.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = gateway.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gateway exits after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn no_auth_must_be_explicit_and_is_warned_about() {
    let gateway = start(&["--no-auth"]);
    let r = gateway.gw.without_auth().get("/system/functions").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        gateway.startup_logs.iter().any(|l| l["level"] == "WARN"
            && l["fields"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("basic auth is OFF")),
        "{:?}",
        gateway.startup_logs
    );
}

#[test]
fn help_documents_every_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_faas-gateway"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--listen",
        "FAAS_LISTEN",
        "--data-dir",
        "FAAS_DATA_DIR",
        "--provider",
        "FAAS_PROVIDER",
        "--no-auth",
        "basic_auth",
        "secret_mount_path",
        "read_timeout",
        "write_timeout",
        "upstream_timeout",
        "function_namespace",
        "FAAS_MAX_BODY_BYTES",
        "FAAS_MAX_HEADER_BYTES",
        "FAAS_SCALE_FROM_ZERO_TIMEOUT",
        "FAAS_UPSTREAM_CONNECT_TIMEOUT",
        "FAAS_UPSTREAM_IDLE_TIMEOUT",
        "max_idle_conns_per_host",
        "FAAS_BASIC_AUTH_USER",
        "FAAS_QUEUE",
        "FAAS_NATS_QUEUES",
        "FAAS_CALLBACK_ALLOWED_HOSTS",
        "DOCKER_HOST",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    // Every flag (but --help and --version) names the environment variable it falls back to.
    let lines: Vec<&str> = help.lines().map(str::trim).collect();
    let mut flags = 0;
    for pair in lines.windows(2) {
        let flag = pair[0];
        if !flag.starts_with("--") || flag.contains(' ') && !flag.contains('<') {
            continue;
        }
        flags += 1;
        assert!(
            pair[1].contains("[env: "),
            "{flag} does not name its environment variable: {:?}",
            pair[1]
        );
    }
    assert!(flags >= 30, "only {flags} flags found in:\n{help}");
}

/// The default provider: functions as real local processes under the watchdog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_provider_runs_real_processes_and_times_out_slow_ones() {
    let gateway = start_on(
        "local",
        &[
            "--upstream-timeout",
            "1s",
            "--scale-from-zero-timeout",
            "2s",
        ],
    );
    let gw = gateway.gw.clone();
    let anon = gw.without_auth();
    for (name, fprocess) in [("wc", "wc -c"), ("sleeper", "sleep 5"), ("env-fn", "env")] {
        let r = gw
            .json(
                Method::POST,
                "/system/functions",
                json!({"service": name, "image": "local/x", "envProcess": fprocess}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{name}: {}", r.text());
    }
    let r = anon
        .send(Method::POST, "/function/wc", &[], vec![b'x'; 12345])
        .await;
    assert_eq!(
        (r.status, r.text().trim().to_owned()),
        (StatusCode::OK, "12345".to_owned())
    );
    let r = anon
        .send(Method::PUT, "/function/env-fn/p?q=1", &[], Bytes::new())
        .await;
    assert!(
        r.text().contains("Http_Method=PUT") && r.text().contains("Http_Query=q=1"),
        "{}",
        r.text()
    );
    let started = std::time::Instant::now();
    let r = anon
        .send(Method::POST, "/function/sleeper", &[], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(4));
    // Scale to zero and cold start on a real process.
    let r = gw
        .json(
            Method::POST,
            "/system/scale-function/wc",
            json!({"serviceName": "wc", "replicas": 0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let r = anon.send(Method::POST, "/function/wc", &[], "abc").await;
    assert_eq!(
        (r.status, r.text().trim().to_owned()),
        (StatusCode::OK, "3".to_owned())
    );
    let logs = gw.get("/system/logs?name=wc&follow=false").await;
    assert_eq!(logs.status, StatusCode::OK);
    assert!(!logs.text().is_empty());

    // An http-mode function whose process never listens never becomes ready: 503 once the
    // scale-from-zero timeout passes, with a JSON body, and the gateway stays up.
    let r = gw
        .json(
            Method::POST,
            "/system/functions",
            json!({"service": "never-ready", "image": "local/x", "envProcess": "sleep 600",
                   "envVars": {"mode": "http", "upstream_url": "http://127.0.0.1:9"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let started = std::time::Instant::now();
    let r = anon
        .send(Method::POST, "/function/never-ready", &[], "x")
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert!(r.json()["message"].is_string(), "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "503 within the 2 s scale-from-zero timeout (took {:?})",
        started.elapsed()
    );
    let r = anon.send(Method::POST, "/function/wc", &[], "ab").await;
    assert_eq!((r.status, r.text().trim()), (StatusCode::OK, "2"));
}
