//! In-process tests: a real gateway (`serve`) on 127.0.0.1:0 over `MemoryProvider`, driven
//! over HTTP. Covers routes, auth (every path variant), error codes, metrics and shutdown, and
//! the proxy's contract with callers and replicas (real HTTP servers on 127.0.0.1): header
//! limits, read timeout, redirects, streaming, forwarding and hop-by-hop headers, balancing.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Gw, basic, eventually};
use faas_core::memory::{MemoryConfig, MemoryProvider};
use faas_core::{DynProvider, Endpoint, Provider};
use faas_gateway::auth::Credentials;
use faas_gateway::{AppState, GatewayConfig, serve};
use http::{Method, StatusCode};
use serde_json::json;
use tokio::sync::oneshot;

const USER: &str = "admin";
const PASSWORD: &str = "correct-horse-battery-staple";

struct Running {
    gw: Gw,
    addr: SocketAddr,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), &mut self.done).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "serve returned cleanly");
    }
}

async fn start_with(provider: Arc<DynProvider>, tweak: impl FnOnce(&mut GatewayConfig)) -> Running {
    let mut config = GatewayConfig {
        endpoint_cache_ttl: Duration::from_millis(200),
        ..GatewayConfig::default()
    };
    tweak(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let creds = Credentials::new(USER, PASSWORD);
    let state = AppState::new(config, provider, Some(creds))
        .await
        .expect("state");
    let (tx, rx) = oneshot::channel::<()>();
    let done = tokio::spawn(serve(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    Running {
        gw: Gw::new(format!("http://{addr}"), Some(basic(USER, PASSWORD))),
        addr,
        state,
        stop: Some(tx),
        done,
    }
}

async fn start() -> (Running, MemoryProvider) {
    let provider = MemoryProvider::new();
    (
        start_with(Arc::new(provider.clone()), |_| {}).await,
        provider,
    )
}

async fn deploy(gw: &Gw, name: &str, fprocess: &str) {
    let r = gw
        .json(
            Method::POST,
            "/system/functions",
            json!({"service": name, "image": "img:1", "envProcess": fprocess}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
}

#[tokio::test]
async fn function_lifecycle_with_openfaas_codes_and_strict_json() {
    let (run, _) = start().await;
    let gw = &run.gw;
    let sent = json!({
        "service": "env-test-annotations", "image": "functions/alpine:latest", "envProcess": "env",
        "labels": {"canary_build": "true"},
        "annotations": {"some-json": "{\n  \"a\": [1, 2]\n}\n", "important-date": "Wed 1 Jan 2020 10:00:00"},
        "limits": {"memory": "5Mi", "cpu": "100m"},
        "network": "func_functions", "registryAuth": ""
    });
    let r = gw
        .json(Method::POST, "/system/functions", sent.clone())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let r = gw
        .json(Method::POST, "/system/functions", sent.clone())
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "redeploy is AlreadyExists");

    let list = gw.get("/system/functions").await;
    assert_eq!(list.status, StatusCode::OK);
    let list = list.json();
    let f = &list[0];
    assert_eq!(f["name"], "env-test-annotations");
    assert_eq!(f["namespace"], "openfaas-fn");
    assert_eq!(
        f["annotations"], sent["annotations"],
        "annotations byte for byte"
    );
    assert_eq!(f["limits"], json!({"memory": "5Mi", "cpu": "100m"}));
    assert_eq!(f["labels"]["faas_function"], "env-test-annotations");
    assert_eq!(f["labels"]["canary_build"], "true");
    for absent in ["requests", "constraints", "secrets", "envVars"] {
        assert!(f.get(absent).is_none(), "{absent} invented: {f}");
    }

    let one = gw
        .get("/system/function/env-test-annotations?namespace=openfaas-fn")
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["image"], "functions/alpine:latest");
    assert_eq!(
        gw.get("/system/function/nope").await.status,
        StatusCode::NOT_FOUND
    );

    let r = gw
        .json(
            Method::PUT,
            "/system/functions",
            json!({"service": "unknown-fn", "image": "x"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "PUT of an unknown function is 404 (faas-cli falls back to POST)"
    );
    let r = gw
        .json(Method::PUT, "/system/functions", json!({"service": "env-test-annotations", "image": "functions/alpine:2", "envProcess": "env"}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(
        gw.get("/system/function/env-test-annotations").await.json()["image"],
        "functions/alpine:2"
    );

    // DELETE: namespace from the query, and body wins over query.
    deploy(gw, "second", "cat").await;
    let r = gw
        .send(
            Method::DELETE,
            "/system/functions?namespace=elsewhere",
            &[],
            serde_json::to_vec(&json!({"functionName": "second", "namespace": "openfaas-fn"}))
                .unwrap_or_default(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "body namespace wins: {}",
        r.text()
    );
    let r = gw
        .json(
            Method::DELETE,
            "/system/functions",
            json!({"functionName": "env-test-annotations"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = gw
        .json(
            Method::DELETE,
            "/system/functions",
            json!({"functionName": "env-test-annotations"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(gw.get("/system/functions").await.text(), "[]");
    run.stop().await;
}

#[tokio::test]
async fn bad_json_is_400_naming_the_field() {
    let (run, _) = start().await;
    let gw = &run.gw;
    let r = gw
        .send(Method::POST, "/system/functions", &[], "{not json")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["field"], "body");
    let r = gw
        .json(Method::POST, "/system/functions", json!({"image": "x"}))
        .await;
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("service"))
    );
    let r = gw
        .json(
            Method::POST,
            "/system/functions",
            json!({"service": "Bad_Name", "image": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("service"))
    );
    deploy(gw, "f", "cat").await;
    let r = gw
        .json(
            Method::POST,
            "/system/scale-function/f",
            json!({"replicas": "two"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("replicas"))
    );
    let r = gw.get("/system/logs?name=f&since=yesterday").await;
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("since"))
    );
    run.stop().await;
}

#[tokio::test]
async fn system_routes_need_auth_in_every_spelling() {
    let (run, _) = start().await;
    let anon = run.gw.without_auth();
    let wrong = Gw::new(run.gw.base.clone(), Some(basic(USER, "wrong")));
    for path in [
        "/system/functions",
        "/system/info",
        "/system/secrets",
        "/system/namespaces",
        "/system/logs?name=x",
        "/system/function/x",
        "/",
    ] {
        for client in [&anon, &wrong] {
            let r = client.get(path).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(r.headers["www-authenticate"], "Basic realm=\"Restricted\"");
        }
    }
    let r = anon
        .json(
            Method::POST,
            "/system/functions",
            json!({"service": "x", "image": "y"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for variant in [
        "//system/functions",
        "/system//functions",
        "/system/../system/functions",
        "/function/../system/functions",
        "/./system/functions",
        "/%73ystem/functions",
        "/system/%66unctions",
        "/SYSTEM/functions",
        "/System/Functions",
        "/system/functions.",
        "/system./functions",
        "/system/functions/.",
        "/system/functions%2F",
        "/healthz/../system/functions",
        "/metrics/../system/functions",
    ] {
        let r = anon.get(variant).await;
        assert!(
            matches!(r.status.as_u16(), 400 | 401 | 404),
            "{variant} answered {} without auth: {}",
            r.status,
            r.text()
        );
        assert!(
            !r.text().starts_with('['),
            "{variant} reached the list handler"
        );
    }
    assert_eq!(anon.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(anon.get("/metrics").await.status, StatusCode::OK);
    assert_eq!(run.gw.get("/system/functions").await.status, StatusCode::OK);
    run.stop().await;
}

#[tokio::test]
async fn invoke_passes_methods_paths_queries_headers_and_bodies() {
    let (run, _) = start().await;
    let gw = &run.gw;
    deploy(gw, "env-fn", "env").await;
    deploy(gw, "echo", "cat").await;
    let anon = gw.without_auth();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let r = anon
            .send(
                m,
                "/function/env-fn/sub/path?b=2&a=%20x&a=1",
                &[],
                Bytes::new(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{method}: {}", r.text());
        let out = r.text();
        assert!(out.contains(&format!("Http_Method={method}")), "{out}");
        assert!(out.contains("Http_Path=/sub/path"), "{out}");
        assert!(
            out.contains("Http_Query=b=2&a=%20x&a=1"),
            "raw query kept: {out}"
        );
        assert!(out.contains("Http_X_Forwarded_For=127.0.0.1"), "{out}");
        assert!(out.contains("Http_X_Forwarded_Host=127.0.0.1:"), "{out}");
        assert!(
            out.lines().any(|l| l.starts_with("Http_X_Start_Time=")),
            "{out}"
        );
        assert!(!r.headers["x-call-id"].is_empty());
        assert!(
            r.headers["x-start-time"]
                .to_str()
                .unwrap_or("")
                .parse::<u128>()
                .is_ok()
        );
    }
    // OPTIONS reaches the replica (whatever it answers is passed through, not a gateway error).
    let r = anon
        .send(Method::OPTIONS, "/function/env-fn", &[], Bytes::new())
        .await;
    assert!(
        !r.headers.contains_key("x-openfaas-internal"),
        "{}: {}",
        r.status,
        r.text()
    );
    let r = anon
        .send(Method::HEAD, "/function/env-fn", &[], Bytes::new())
        .await;
    assert!(
        !r.headers.contains_key("x-openfaas-internal"),
        "HEAD reaches the replica: {}",
        r.status
    );
    assert!(r.body.is_empty());

    let r = anon
        .send(
            Method::POST,
            "/function/env-fn.openfaas-fn",
            &[
                ("x-call-id", "my-id"),
                ("connection", "x-secret"),
                ("x-secret", "1"),
                ("x-forwarded-for", "10.9.9.9"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.headers["x-call-id"], "my-id", "a sent call id is kept");
    let out = r.text();
    assert!(out.contains("Http_X_Call_Id=my-id"), "{out}");
    assert!(
        !out.contains("X_Secret"),
        "headers named by Connection are dropped: {out}"
    );
    assert!(
        out.contains("Http_X_Forwarded_For=10.9.9.9"),
        "an existing X-Forwarded-For is kept: {out}"
    );

    let binary: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let r = anon
        .send(
            Method::POST,
            "/function/echo",
            &[("content-type", "application/octet-stream")],
            binary.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body.as_ref(),
        binary.as_slice(),
        "binary body round-trips"
    );
    run.stop().await;
}

#[tokio::test]
async fn unknown_functions_are_404_and_create_no_series() {
    let (run, _) = start().await;
    let gw = &run.gw;
    deploy(gw, "real", "cat").await;
    for path in [
        "/function/made-up",
        "/function/.openfaas-fn",
        "/function/real.nowhere",
        "/function/real.",
        "/function/real./sub",
        "/function/",
        "/function/%2e%2e",
    ] {
        let r = gw.send(Method::POST, path, &[], "x").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text());
        assert_eq!(r.json()["kind"], "not_found", "{path}");
        assert!(r.headers.contains_key("x-call-id") && r.headers.contains_key("x-start-time"));
    }
    let r = gw.send(Method::POST, "/function/real", &[], "hi").await;
    assert_eq!(r.text(), "hi");
    let metrics = gw.without_auth().get("/metrics").await.text();
    assert!(
        metrics.contains(
            r#"gateway_function_invocation_total{function_name="real.openfaas-fn",code="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"gateway_function_invocation_started{function_name="real.openfaas-fn"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"gateway_functions_seconds_bucket{function_name="real.openfaas-fn",code="200",le="0.005"}"#), "{metrics}");
    assert!(
        !metrics.contains("made-up")
            && !metrics.contains("nowhere")
            && !metrics.contains(r#""real.""#),
        "{metrics}"
    );
    let list = gw.get("/system/functions").await.json();
    assert_eq!(list[0]["invocationCount"], 1.0);
    let status = gw.get("/system/function/real").await.json();
    assert_eq!(status["invocationCount"], 1.0);
    run.stop().await;
}

#[tokio::test]
async fn scale_to_zero_then_invoke_scales_up_once_for_concurrent_calls() {
    let (run, provider) = start().await;
    let gw = &run.gw;
    deploy(gw, "cold", "cat").await;
    let r = gw
        .json(
            Method::POST,
            "/system/scale-function/cold",
            json!({"serviceName": "cold", "replicas": 0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let status = gw.get("/system/function/cold").await.json();
    assert!(
        status.get("replicas").is_none(),
        "replicas 0 is omitted: {status}"
    );
    let calls = (0..8).map(|i| {
        let gw = gw.without_auth();
        async move {
            gw.send(Method::POST, "/function/cold", &[], format!("call {i}"))
                .await
        }
    });
    for (i, r) in futures::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.text(), format!("call {i}"));
    }
    let status = provider.get("cold", "openfaas-fn").await.expect("status");
    assert_eq!(
        status.replicas, 1,
        "scaled to max(min, 1) once, not once per caller"
    );
    run.stop().await;
}

#[tokio::test]
async fn no_ready_replica_within_the_timeout_is_503() {
    let provider = MemoryProvider::with_config(
        MemoryConfig::default().with_ready_delay(Duration::from_secs(60)),
    );
    let run = start_with(Arc::new(provider), |c| {
        c.scale_from_zero_timeout = Duration::from_millis(200)
    })
    .await;
    deploy(&run.gw, "slow-start", "cat").await;
    let r = run
        .gw
        .send(Method::POST, "/function/slow-start", &[], "x")
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.json()["kind"], "unavailable");
    run.stop().await;
}

#[tokio::test]
async fn body_limit_is_413_for_declared_and_streamed_bodies() {
    let (run, _) = {
        let provider = MemoryProvider::new();
        (
            start_with(Arc::new(provider.clone()), |c| c.max_body_bytes = 1024).await,
            provider,
        )
    };
    deploy(&run.gw, "echo", "cat").await;
    let r = run
        .gw
        .send(Method::POST, "/function/echo", &[], vec![b'x'; 2048])
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = run
        .gw
        .send(Method::POST, "/function/echo", &[], vec![b'x'; 1024])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let big = json!({"service": "x", "image": "y", "annotations": {"a": "z".repeat(4096)}});
    let r = run.gw.json(Method::POST, "/system/functions", big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    run.stop().await;
}

#[tokio::test]
async fn logs_stream_as_ndjson() {
    let (run, _) = start().await;
    let gw = &run.gw;
    deploy(gw, "logger", "cat").await;
    gw.send(Method::POST, "/function/logger", &[], "hello")
        .await;
    let r = gw.get("/system/logs?name=logger&follow=false").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(lines.iter().all(|l| l["name"] == "logger"));
    assert!(
        lines
            .iter()
            .any(|l| l["text"].as_str().unwrap_or("").contains("Wrote 5 Bytes")),
        "{lines:?}"
    );
    assert_eq!(
        gw.get("/system/logs?name=nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(gw.get("/system/logs").await.json()["field"], "name");
    run.stop().await;
}

#[tokio::test]
async fn followed_logs_deliver_new_lines_while_open() {
    use http_body_util::BodyExt;
    let (run, _) = start().await;
    let gw = run.gw.clone();
    deploy(&gw, "tailme", "cat").await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let req = http::Request::get(format!(
        "{}/system/logs?name=tailme&follow=true&tail=0",
        gw.base
    ))
    .header("authorization", gw.auth.clone().unwrap_or_default())
    .body(http_body_util::Empty::<Bytes>::new())
    .expect("request");
    let resp = client.request(req).await.expect("logs open");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    gw.send(Method::POST, "/function/tailme", &[], "abc").await;
    let mut seen = String::new();
    while !seen.contains("Wrote 3 Bytes") {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("a line arrives while following");
        if let Some(Ok(frame)) = frame {
            if let Some(data) = frame.data_ref() {
                seen.push_str(&String::from_utf8_lossy(data));
            }
        } else {
            panic!("stream ended while following: {seen}");
        }
    }
    drop(body);
    run.stop().await;
}

#[tokio::test]
async fn secrets_namespaces_info_and_health() {
    let (run, _) = start().await;
    let gw = &run.gw;
    assert_eq!(
        gw.json(
            Method::POST,
            "/system/secrets",
            json!({"name": "s1", "value": "v"})
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        gw.json(
            Method::POST,
            "/system/secrets",
            json!({"name": "s1", "value": "v"})
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        gw.get("/system/secrets").await.json(),
        json!([{"name": "s1", "namespace": "openfaas-fn"}])
    );
    assert_eq!(
        gw.json(
            Method::PUT,
            "/system/secrets",
            json!({"name": "s1", "rawValue": "AAE="})
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        gw.json(
            Method::PUT,
            "/system/secrets",
            json!({"name": "nope", "value": "v"})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        gw.json(Method::DELETE, "/system/secrets", json!({"name": "s1"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        gw.json(Method::DELETE, "/system/secrets", json!({"name": "s1"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let r = gw
        .json(
            Method::POST,
            "/system/namespace/team-a",
            json!({"labels": {"openfaas": "1"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        gw.get("/system/namespaces").await.json(),
        json!(["openfaas-fn", "team-a"])
    );
    assert_eq!(
        gw.get("/system/namespace/team-a").await.json()["labels"]["openfaas"],
        "1"
    );
    let r = gw
        .json(
            Method::PUT,
            "/system/namespace/team-a",
            json!({"name": "team-b"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("name"))
    );
    let r = gw
        .json(
            Method::POST,
            "/system/functions",
            json!({"service": "fa", "image": "i", "namespace": "team-a", "envProcess": "echo hi"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(gw.get("/function/fa.team-a").await.text(), "hi\n");
    assert_eq!(
        gw.get("/system/functions?namespace=team-a").await.json()[0]["name"],
        "fa"
    );
    assert_eq!(
        gw.send(
            Method::DELETE,
            "/system/namespace/team-a",
            &[],
            Bytes::new()
        )
        .await
        .status,
        StatusCode::PRECONDITION_FAILED
    );

    let info = gw.get("/system/info").await.json();
    assert_eq!(info["provider"]["provider"], "faas-memory");
    assert_eq!(info["provider"]["orchestration"], "memory");
    assert!(
        !info["provider"]["version"]["sha"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    );
    assert!(!info["version"]["release"].as_str().unwrap_or("").is_empty());
    assert!(!info["version"]["sha"].as_str().unwrap_or("").is_empty());
    assert!(!info["arch"].as_str().unwrap_or("").is_empty());
    assert_eq!(
        gw.send(Method::PATCH, "/system/functions", &[], Bytes::new())
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        gw.get("/system/nothing-here").await.status,
        StatusCode::NOT_FOUND
    );
    run.stop().await;
}

/// A server on 127.0.0.1 that accepts connections, reads, and never answers; plus a closed port.
async fn stall_and_refuse() -> (Endpoint, Endpoint, tokio::task::JoinHandle<()>) {
    let stall = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let stall_port = stall.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = stall.accept().await {
            held.push(sock);
        }
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    (
        Endpoint::new("127.0.0.1", stall_port, "stall"),
        Endpoint::new("127.0.0.1", closed_port, "closed"),
        task,
    )
}

#[tokio::test]
async fn upstream_refused_is_502_and_evicts_timeout_is_504() {
    let (stall, closed, task) = stall_and_refuse().await;
    let to = vec![("sleeper", vec![stall]), ("refuser", vec![closed])];
    let run = start_redirected(to, |c| c.upstream_timeout = Duration::from_millis(300)).await;
    deploy(&run.gw, "sleeper", "cat").await;
    deploy(&run.gw, "refuser", "cat").await;
    let started = std::time::Instant::now();
    let r = run
        .gw
        .send(Method::POST, "/function/sleeper", &[], "x")
        .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    let r = run
        .gw
        .send(Method::POST, "/function/refuser", &[], "x")
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
    assert_eq!(r.headers["x-openfaas-internal"], "gateway");
    let metrics = run.gw.get("/metrics").await.text();
    assert!(
        metrics.contains(
            r#"gateway_function_invocation_total{function_name="refuser.openfaas-fn",code="502"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"gateway_function_invocation_total{function_name="sleeper.openfaas-fn",code="504"} 1"#
        ),
        "{metrics}"
    );
    run.stop().await;
    task.abort();
}

#[tokio::test]
async fn shutdown_lets_in_flight_calls_finish() {
    // A function server that answers after 300 ms.
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = slow.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        while let Ok((sock, _)) = slow.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(Bytes::from("done")),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    let to = vec![("slow", vec![Endpoint::new("127.0.0.1", port, "slow")])];
    let mut run = start_redirected(to, |_| {}).await;
    deploy(&run.gw, "slow", "cat").await;
    let gw = run.gw.clone();
    let call = tokio::spawn(async move { gw.send(Method::POST, "/function/slow", &[], "x").await });
    // Wait until the call is in flight, then stop the gateway.
    eventually(Duration::from_secs(5), || {
        let gw = run.gw.clone();
        async move {
            gw.get("/metrics")
                .await
                .text()
                .contains(
                    "gateway_function_invocation_started{function_name=\"slow.openfaas-fn\"} 1",
                )
                .then_some(())
        }
    })
    .await;
    if let Some(tx) = run.stop.take() {
        let _ = tx.send(());
    }
    let r = call.await.expect("call task");
    assert_eq!((r.status, r.text()), (StatusCode::OK, "done".to_owned()));
    let done = tokio::time::timeout(Duration::from_secs(5), &mut run.done).await;
    assert!(matches!(done, Ok(Ok(Ok(())))));
    server.abort();
}

// ---------------------------------------------------------------------------------------------
// The proxy's contract with callers and replicas, against real HTTP servers on 127.0.0.1.
// ---------------------------------------------------------------------------------------------

/// The body type of the test replicas.
type UpBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

fn full(bytes: impl Into<Bytes>) -> UpBody {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into()).boxed()
}

/// A function replica: an HTTP/1.1 server on 127.0.0.1 answering every request with `handler`.
async fn replica<F, Fut>(instance: &str, handler: F) -> (Endpoint, tokio::task::JoinHandle<()>)
where
    F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = http::Response<UpBody>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let answer = handler(req);
                    async move { Ok::<_, std::convert::Infallible>(answer.await) }
                });
                // Room for the gateway's own headers on top of a caller's 100.
                let _ = hyper::server::conn::http1::Builder::new()
                    .max_headers(200)
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (Endpoint::new("127.0.0.1", port, instance), task)
}

/// A gateway over MemoryProvider whose functions named in `to` (default namespace) resolve to
/// those endpoints once deployed and ready (`MemoryProvider::set_endpoints`); the rest resolve
/// to their own replicas. `tweak` is applied to the configuration.
async fn start_redirected(
    to: Vec<(&str, Vec<Endpoint>)>,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Running {
    let provider = MemoryProvider::new();
    for (name, endpoints) in to {
        provider
            .set_endpoints(name, "", endpoints)
            .expect("endpoint override");
    }
    start_with(Arc::new(provider), tweak).await
}

/// A response as read off the wire.
#[derive(Debug)]
struct RawReply {
    status: u16,
    /// Names lower-cased, in wire order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one HTTP/1.1 response (head, then a `Content-Length` body) from `sock`.
async fn read_reply(sock: &mut tokio::net::TcpStream) -> RawReply {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut chunk))
            .await
            .expect("a response within 10s")
            .expect("read");
        assert!(
            n > 0,
            "connection closed before a response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut chunk))
            .await
            .expect("the body within 10s")
            .expect("read");
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    RawReply {
        status,
        headers,
        body,
    }
}

/// Waits up to `bound` for the peer to close `sock`; returns the bytes that came first.
/// A reset counts as closed (the peer dropped the connection with unread input).
async fn closed_within(sock: &mut tokio::net::TcpStream, bound: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let until = tokio::time::Instant::now() + bound;
    loop {
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout_at(until, sock.read(&mut chunk)).await {
            Err(_) => panic!(
                "connection still open after {bound:?}; got {:?}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(Ok(0)) => return seen,
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => return seen,
            Ok(Err(e)) => panic!("read failed: {e}"),
        }
    }
}

/// A request head of exactly `len` bytes for `path` whose `X-Big` header fills the rest, and
/// that header's length; `terminated` ends it with the blank line, else it stops mid-header.
fn head_of(len: usize, path: &str, terminated: bool) -> (Vec<u8>, usize) {
    let start = format!("GET {path} HTTP/1.1\r\nHost: gw.example\r\nX-Big: ");
    let end = if terminated { "\r\n\r\n" } else { "" };
    let pad = len - start.len() - end.len();
    (format!("{start}{}{end}", "a".repeat(pad)).into_bytes(), pad)
}

#[tokio::test]
async fn request_heads_over_max_header_bytes_get_431_and_heads_within_pass() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt;
    const LIMIT: usize = 16 * 1024;
    let calls = Arc::new(AtomicUsize::new(0));
    let (endpoint, server) = replica("big", {
        let calls = Arc::clone(&calls);
        move |req| {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let n = req.headers().get("x-big").map_or(0, |v| v.len());
                http::Response::new(full(n.to_string()))
            }
        }
    })
    .await;
    let run = start_redirected(vec![("big", vec![endpoint])], |c| {
        c.max_header_bytes = LIMIT;
    })
    .await;
    deploy(&run.gw, "big", "cat").await;

    // A head of exactly the limit, blank line included, passes whole.
    let mut sock = tokio::net::TcpStream::connect(run.addr)
        .await
        .expect("connect");
    let (head, value_len) = head_of(LIMIT, "/function/big", true);
    sock.write_all(&head).await.expect("write");
    let r = read_reply(&mut sock).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(String::from_utf8_lossy(&r.body), value_len.to_string());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // One that reaches the limit without ending: hyper's 431, then the connection closes.
    // (Exactly LIMIT bytes, so the gateway has read all of it and closes with FIN, not RST.)
    let mut sock = tokio::net::TcpStream::connect(run.addr)
        .await
        .expect("connect");
    sock.write_all(&head_of(LIMIT, "/function/big", false).0)
        .await
        .expect("write");
    let r = read_reply(&mut sock).await;
    assert_eq!(r.status, 431, "{:?}", r.headers);
    assert!(
        closed_within(&mut sock, Duration::from_secs(5))
            .await
            .is_empty(),
        "nothing after the 431"
    );

    // The same through an ordinary client sending a complete head twice the limit.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let req = http::Request::get(format!("{}/function/big", run.gw.base))
        .header("x-big", "b".repeat(2 * LIMIT))
        .body(http_body_util::Empty::new())
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .expect("answered within 10s")
        .expect("the 431 is read before the connection closes");
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no oversized head reached the function"
    );

    // hyper also caps the number of header fields at 100 (431 above), whatever their size.
    for (fields, status) in [(100, 200), (101, 431)] {
        let mut head = String::from("GET /function/big HTTP/1.1\r\nHost: gw.example\r\n");
        for i in 1..fields {
            head.push_str(&format!("X-F{i}: v\r\n"));
        }
        head.push_str("\r\n");
        let mut sock = tokio::net::TcpStream::connect(run.addr)
            .await
            .expect("connect");
        sock.write_all(head.as_bytes()).await.expect("write");
        let r = read_reply(&mut sock).await;
        assert_eq!(r.status, status, "{fields} fields");
        // The 431 is hyper's, before the proxy: no call id.
        assert_eq!(r.header("x-call-id").is_some(), status == 200, "{r:?}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // The gateway keeps serving, and a head a little under the limit passes.
    let value = "c".repeat(LIMIT - 1024);
    let r = run
        .gw
        .send(
            Method::GET,
            "/function/big",
            &[("x-big", &value)],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        (r.status, r.text()),
        (StatusCode::OK, value.len().to_string())
    );
    run.stop().await;
    server.abort();
}

#[tokio::test]
async fn read_timeout_drops_stalled_and_dripping_heads_but_not_slow_calls() {
    use tokio::io::AsyncWriteExt;
    const READ: Duration = Duration::from_millis(300);
    // Generous: the machine may be loaded; the point is "closed", not "closed fast".
    const BOUND: Duration = Duration::from_secs(5);
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel::<()>();
    let release = Arc::new(tokio::sync::Notify::new());
    let (endpoint, server) = replica("slow", {
        let release = Arc::clone(&release);
        move |_req| {
            let (release, arrived_tx) = (Arc::clone(&release), arrived_tx.clone());
            async move {
                let _ = arrived_tx.send(());
                release.notified().await;
                http::Response::new(full("released"))
            }
        }
    })
    .await;
    let run = start_redirected(vec![("slow", vec![endpoint])], |c| c.read_timeout = READ).await;
    deploy(&run.gw, "slow", "cat").await;

    // A call that will stay in flight for longer than the read timeout.
    let gw = run.gw.clone();
    let in_flight = tokio::spawn(async move { gw.get("/function/slow").await });
    tokio::time::timeout(BOUND, arrived.recv())
        .await
        .expect("the call reached the replica")
        .expect("replica alive");

    // Half a head, then nothing: closed after the read timeout, without a response.
    let started = std::time::Instant::now();
    let mut stalled = tokio::net::TcpStream::connect(run.addr)
        .await
        .expect("connect");
    stalled
        .write_all(b"GET /function/slow HTTP/1.1\r\nHost: gw.example\r\nX-Half: ")
        .await
        .expect("write");
    let seen = closed_within(&mut stalled, BOUND).await;
    let waited = started.elapsed();
    assert!(
        seen.is_empty(),
        "no response to a stalled head: {:?}",
        String::from_utf8_lossy(&seen)
    );
    assert!(
        waited >= READ,
        "closed after {waited:?}, before the read timeout"
    );

    // A head dripping in a byte at a time does not reset the clock (slowloris).
    let started = std::time::Instant::now();
    let mut dripping = tokio::net::TcpStream::connect(run.addr)
        .await
        .expect("connect");
    dripping
        .write_all(b"GET /function/slow HTTP/1.1\r\n")
        .await
        .expect("write");
    let (mut reader, mut writer) = dripping.split();
    let drip = async {
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        loop {
            tick.tick().await;
            if writer.write_all(b"x").await.is_err() {
                // The gateway hung up; the read side reports it.
                std::future::pending::<()>().await;
            }
        }
    };
    let closed = async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 64];
        match reader.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
                0
            }
        }
    };
    let n = tokio::time::timeout(BOUND, async {
        tokio::select! {
            n = closed => n,
            () = drip => unreachable!("the drip never ends by itself"),
        }
    })
    .await
    .expect("a dripping head is cut off within the bound");
    let waited = started.elapsed();
    assert_eq!(n, 0, "no response to a dripping head");
    assert!(waited >= READ, "cut off after {waited:?}");

    // The call in flight all along is not cut by the read timeout: it answers when released.
    assert!(!in_flight.is_finished());
    release.notify_one();
    let r = tokio::time::timeout(BOUND, in_flight)
        .await
        .expect("answered")
        .expect("call task");
    assert_eq!(
        (r.status, r.text()),
        (StatusCode::OK, "released".to_owned())
    );

    // A kept-alive connection that sends no next head is closed the same way.
    let mut idle = tokio::net::TcpStream::connect(run.addr)
        .await
        .expect("connect");
    // (The clock starts once the answer is written, so after `asked`.)
    let asked = std::time::Instant::now();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: gw.example\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(read_reply(&mut idle).await.status, 200);
    assert!(closed_within(&mut idle, BOUND).await.is_empty());
    let waited = asked.elapsed();
    assert!(waited >= READ, "idle connection closed after {waited:?}");
    run.stop().await;
    server.abort();
}

#[tokio::test]
async fn redirects_from_the_function_reach_the_caller_untouched() {
    let paths = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (endpoint, server) = replica("redirector", {
        let paths = Arc::clone(&paths);
        move |req: http::Request<hyper::body::Incoming>| {
            let paths = Arc::clone(&paths);
            async move {
                let pq = req
                    .uri()
                    .path_and_query()
                    .map_or_else(String::new, |p| p.to_string());
                paths.lock().map(|mut p| p.push(pq)).ok();
                let code: u16 = req
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("code="))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(302);
                http::Response::builder()
                    .status(code)
                    .header("location", "/landed?from=go&x=%20y")
                    .header("set-cookie", "session=1; Path=/")
                    .body(full("moved"))
                    .expect("response")
            }
        }
    })
    .await;
    let run = start_redirected(vec![("redirector", vec![endpoint])], |_| {}).await;
    deploy(&run.gw, "redirector", "cat").await;
    let anon = run.gw.without_auth();
    let mut expected = Vec::new();
    for (method, code) in [
        (Method::GET, 302),
        (Method::POST, 302),
        (Method::GET, 301),
        (Method::POST, 303),
        (Method::POST, 307),
        (Method::PUT, 308),
    ] {
        let path = format!("/go?code={code}");
        let r = anon
            .send(
                method.clone(),
                &format!("/function/redirector{path}"),
                &[],
                "body",
            )
            .await;
        assert_eq!(r.status.as_u16(), code, "{method} {code}: {}", r.text());
        assert_eq!(r.headers["location"], "/landed?from=go&x=%20y");
        assert_eq!(r.headers["set-cookie"], "session=1; Path=/");
        assert_eq!(r.text(), "moved");
        assert!(r.headers.contains_key("x-call-id"));
        expected.push(path);
    }
    let seen = paths.lock().map(|p| p.clone()).unwrap_or_default();
    assert_eq!(
        seen, expected,
        "one upstream request per call; the Location was never fetched"
    );
    run.stop().await;
    server.abort();
}

#[tokio::test]
async fn event_streams_and_chunked_responses_are_flushed_as_they_come() {
    use http_body_util::BodyExt;
    type Tap = futures::channel::mpsc::UnboundedSender<Bytes>;
    let (taps_tx, mut taps) = tokio::sync::mpsc::unbounded_channel::<Tap>();
    let (endpoint, server) = replica("streamer", move |req: http::Request<_>| {
        let taps_tx = taps_tx.clone();
        async move {
            use futures::StreamExt;
            let (tx, rx) = futures::channel::mpsc::unbounded::<Bytes>();
            let _ = taps_tx.send(tx);
            let sse = req
                .headers()
                .get("accept")
                .is_some_and(|a| a.as_bytes() == b"text/event-stream");
            let body = http_body_util::StreamBody::new(
                rx.map(|b| Ok::<_, std::convert::Infallible>(http_body::Frame::data(b))),
            );
            http::Response::builder()
                .header(
                    "content-type",
                    if sse {
                        "text/event-stream"
                    } else {
                        "application/octet-stream"
                    },
                )
                .header("cache-control", "no-cache")
                .body(http_body_util::BodyExt::boxed(body))
                .expect("response")
        }
    })
    .await;
    let run = start_redirected(vec![("streamer", vec![endpoint])], |_| {}).await;
    deploy(&run.gw, "streamer", "cat").await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let bound = Duration::from_secs(5);
    for (accept, content_type, events) in [
        (
            "text/event-stream",
            "text/event-stream",
            vec![
                "data: one\n\n",
                "event: tick\ndata: two\n\n",
                "id: 3\ndata: three\n\n",
            ],
        ),
        (
            "*/*",
            "application/octet-stream",
            vec!["first chunk", "second chunk", "third"],
        ),
    ] {
        let req = http::Request::get(format!("{}/function/streamer/events", run.gw.base))
            .header("accept", accept)
            .body(http_body_util::Empty::new())
            .expect("request");
        let resp = tokio::time::timeout(bound, client.request(req))
            .await
            .expect("the head arrives before any body is written")
            .expect("response");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], content_type);
        assert_eq!(resp.headers()["cache-control"], "no-cache");
        assert!(
            !resp.headers().contains_key("content-length"),
            "{:?}",
            resp.headers()
        );
        let tap = tokio::time::timeout(bound, taps.recv())
            .await
            .expect("the replica was called")
            .expect("replica alive");
        let mut body = resp.into_body();
        for event in events {
            // The replica writes the next piece only once the caller has the previous one: a
            // gateway that buffered would deadlock here and time out.
            tap.unbounded_send(Bytes::from(event)).expect("stream open");
            let mut got = Vec::new();
            while got.len() < event.len() {
                let frame = tokio::time::timeout(bound, body.frame())
                    .await
                    .unwrap_or_else(|_| panic!("{event:?} not flushed within {bound:?}"))
                    .expect("stream still open")
                    .expect("frame");
                if let Some(data) = frame.data_ref() {
                    got.extend_from_slice(data);
                }
            }
            assert_eq!(String::from_utf8_lossy(&got), event);
        }
        drop(tap);
        let end = tokio::time::timeout(bound, body.frame())
            .await
            .expect("the end is passed on too");
        assert!(end.is_none(), "stream ends when the replica's does");
    }
    run.stop().await;
    server.abort();
}

/// What a replica saw of one request.
#[derive(Debug)]
struct Seen {
    headers: http::HeaderMap,
    body: Bytes,
}

#[tokio::test]
async fn forwarding_headers_host_and_hop_by_hop_headers_both_ways() {
    use tokio::io::AsyncWriteExt;
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<Seen>();
    let (endpoint, server) = replica("headers", move |req: http::Request<_>| {
        let seen_tx = seen_tx.clone();
        async move {
            use http_body_util::BodyExt;
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let _ = seen_tx.send(Seen {
                headers: parts.headers,
                body,
            });
            // Hop-by-hop headers on the way back, beside ones that must pass.
            http::Response::builder()
                .header("connection", "x-resp-private")
                .header("x-resp-private", "1")
                .header("keep-alive", "timeout=5")
                .header("proxy-authenticate", "Basic realm=\"upstream\"")
                .header("proxy-connection", "keep-alive")
                .header("trailer", "x-checksum")
                .header("upgrade", "h2c")
                .header("content-type", "application/x-custom")
                .header("x-kept-back", "yes")
                .body(full("ok"))
                .expect("response")
        }
    })
    .await;
    let authority = endpoint.authority();
    let run = start_redirected(vec![("headers", vec![endpoint])], |_| {}).await;
    deploy(&run.gw, "headers", "cat").await;

    let mut sock = tokio::net::TcpStream::connect(run.addr)
        .await
        .expect("connect");
    // Without X-Forwarded-*, with every kind of hop-by-hop header and a chunked body.
    sock.write_all(
        b"POST /function/headers/p?q=1 HTTP/1.1\r\n\
          Host: client.example:1234\r\n\
          Connection: keep-alive, x-private\r\n\
          X-Private: hop\r\n\
          Keep-Alive: timeout=5\r\n\
          TE: trailers\r\n\
          Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\
          Proxy-Connection: keep-alive\r\n\
          Upgrade: websocket\r\n\
          Authorization: Bearer end-to-end\r\n\
          X-Kept: yes\r\n\
          Transfer-Encoding: chunked\r\n\
          \r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await
    .expect("write");
    let r = read_reply(&mut sock).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, b"ok");
    let up = tokio::time::timeout(Duration::from_secs(5), seen.recv())
        .await
        .expect("the replica was called")
        .expect("replica alive");
    let h = &up.headers;
    assert_eq!(
        h["host"],
        authority.as_str(),
        "the replica sees its own address as Host, as Go's proxy sends it, not the caller's"
    );
    assert_eq!(h["x-forwarded-host"], "client.example:1234");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-kept"], "yes");
    assert_eq!(
        h["authorization"], "Bearer end-to-end",
        "end-to-end headers pass"
    );
    for hop in [
        "connection",
        "x-private",
        "keep-alive",
        "te",
        "proxy-authorization",
        "proxy-connection",
        "upgrade",
    ] {
        assert!(!h.contains_key(hop), "{hop} reached the replica: {h:?}");
    }
    // Transfer-Encoding is per hop: the body arrives de-chunked and whole, framed anew.
    assert_eq!(up.body, "hello world");
    assert!(
        h.get("transfer-encoding").is_none_or(|v| v == "chunked"),
        "{h:?}"
    );
    // And on the way back.
    assert_eq!(r.header("x-kept-back"), Some("yes"));
    assert_eq!(r.header("content-type"), Some("application/x-custom"));
    for hop in [
        "connection",
        "x-resp-private",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
        "trailer",
        "upgrade",
    ] {
        assert!(r.header(hop).is_none(), "{hop} reached the caller: {r:?}");
    }
    assert!(r.header("x-call-id").is_some() && r.header("x-start-time").is_some());

    // X-Forwarded-* sent by the caller are kept as they are (not replaced, not appended to),
    // on the same keep-alive connection.
    sock.write_all(
        b"GET /function/headers HTTP/1.1\r\n\
          Host: client.example:1234\r\n\
          X-Forwarded-For: 203.0.113.7\r\n\
          X-Forwarded-Host: original.example\r\n\
          \r\n",
    )
    .await
    .expect("write");
    let r = read_reply(&mut sock).await;
    assert_eq!(r.status, 200, "{r:?}");
    let up = tokio::time::timeout(Duration::from_secs(5), seen.recv())
        .await
        .expect("the replica was called")
        .expect("replica alive");
    let h = &up.headers;
    assert_eq!(h["host"], authority.as_str());
    assert_eq!(
        h.get_all("x-forwarded-for").iter().collect::<Vec<_>>(),
        ["203.0.113.7"]
    );
    assert_eq!(
        h.get_all("x-forwarded-host").iter().collect::<Vec<_>>(),
        ["original.example"]
    );
    run.stop().await;
    server.abort();
}

#[tokio::test]
async fn calls_go_to_the_replica_with_the_fewest_in_flight() {
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let release = Arc::new(tokio::sync::Notify::new());
    let serve_as = |name: &'static str| {
        let (arrived_tx, release) = (arrived_tx.clone(), Arc::clone(&release));
        move |req: http::Request<hyper::body::Incoming>| {
            let (arrived_tx, release) = (arrived_tx.clone(), Arc::clone(&release));
            async move {
                if req.uri().path() == "/hold" {
                    let _ = arrived_tx.send(name);
                    release.notified().await;
                }
                http::Response::new(full(name))
            }
        }
    };
    let (a, server_a) = replica("a", serve_as("a")).await;
    let (b, server_b) = replica("b", serve_as("b")).await;
    let run = start_redirected(vec![("duo", vec![a, b])], |_| {}).await;
    deploy(&run.gw, "duo", "cat").await;
    let gw = run.gw.without_auth();

    let held = tokio::spawn({
        let gw = gw.clone();
        async move { gw.get("/function/duo/hold").await }
    });
    let holder = tokio::time::timeout(Duration::from_secs(5), arrived.recv())
        .await
        .expect("the held call reached a replica")
        .expect("replicas alive");
    let other = if holder == "a" { "b" } else { "a" };
    for i in 0..6 {
        let r = gw.get("/function/duo/quick").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.text(),
            other,
            "call {i} went to {holder}, which has a call in flight"
        );
    }
    release.notify_one();
    let r = held.await.expect("held call");
    assert_eq!((r.status, r.text()), (StatusCode::OK, holder.to_owned()));

    // Both idle again: ties rotate, so both serve.
    let mut served = std::collections::BTreeSet::new();
    for _ in 0..4 {
        served.insert(gw.get("/function/duo/quick").await.text());
    }
    assert_eq!(
        served,
        ["a".to_owned(), "b".to_owned()].into(),
        "idle replicas share the calls"
    );
    run.stop().await;
    server_a.abort();
    server_b.abort();
}

#[tokio::test]
async fn scale_function_stores_any_replica_count_without_the_ce_clamp() {
    let (run, provider) = start().await;
    let gw = &run.gw;
    deploy(gw, "wide", "cat").await;
    let r = gw
        .json(
            Method::POST,
            "/system/scale-function/wide",
            json!({"serviceName": "wide", "replicas": 7}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let status = provider.get("wide", "openfaas-fn").await.expect("status");
    assert_eq!(status.replicas, 7, "stored as sent, not clamped to 5");
    assert_eq!(gw.get("/system/function/wide").await.json()["replicas"], 7);
    assert_eq!(gw.get("/system/functions").await.json()[0]["replicas"], 7);
    eventually(Duration::from_secs(5), || async {
        let status = gw.get("/system/function/wide").await.json();
        (status["availableReplicas"] == 7).then_some(())
    })
    .await;
    let endpoints = provider
        .resolve("wide", "openfaas-fn")
        .await
        .expect("resolve");
    assert_eq!(endpoints.len(), 7, "{endpoints:?}");
    // The namespace from the query, and back down below CE's floor of 1 is allowed too.
    let r = gw
        .json(
            Method::POST,
            "/system/scale-function/wide?namespace=openfaas-fn",
            json!({"serviceName": "wide", "replicas": 0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(
        provider
            .get("wide", "openfaas-fn")
            .await
            .expect("status")
            .replicas,
        0
    );
    run.stop().await;
}

#[tokio::test]
async fn service_count_is_exported_and_deleted_functions_stop_counting() {
    let (run, _) = start().await;
    let gw = &run.gw;
    deploy(gw, "counted", "cat").await;
    let r = gw
        .json(
            Method::POST,
            "/system/scale-function/counted",
            json!({"serviceName": "counted", "replicas": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // What serve's background task does every 5 s, run now.
    run.state.refresh_service_counts().await;
    let metrics = gw.without_auth().get("/metrics").await.text();
    assert!(
        metrics.contains("# TYPE gateway_service_count gauge"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gateway_service_count{function_name="counted.openfaas-fn"} 3"#),
        "{metrics}"
    );
    assert_eq!(
        gw.send(Method::POST, "/function/counted", &[], "x")
            .await
            .status,
        StatusCode::OK
    );
    let r = gw
        .json(
            Method::DELETE,
            "/system/functions",
            json!({"functionName": "counted"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    run.state.refresh_service_counts().await;
    let metrics = gw.without_auth().get("/metrics").await.text();
    let count = metrics
        .lines()
        .find(|l| l.starts_with(r#"gateway_service_count{function_name="counted.openfaas-fn"}"#));
    assert!(
        count.is_none_or(|l| l.ends_with(" 0")),
        "a deleted function reports no replicas: {count:?}"
    );
    // Its invocation series stay: metrics-exporter-prometheus cannot forget one series (see
    // the faas_gateway::metrics docs). A redeploy starts invocationCount afresh (0, which
    // OpenFaaS omits).
    deploy(gw, "counted", "cat").await;
    let status = gw.get("/system/function/counted").await.json();
    assert!(status.get("invocationCount").is_none(), "{status}");
    run.stop().await;
}

#[tokio::test]
async fn serve_refuses_a_header_limit_hyper_cannot_apply() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = GatewayConfig {
        basic_auth: false,
        max_header_bytes: 4096,
        ..GatewayConfig::default()
    };
    let state = AppState::new(config, Arc::new(MemoryProvider::new()), None)
        .await
        .expect("state");
    let served = tokio::spawn(serve(listener, state, std::future::pending()));
    let result = tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("serve returns at once");
    let err = result
        .expect("serve returns an error instead of panicking")
        .expect_err("4096 is below hyper's minimum buffer of 8192");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("8192"), "{err}");
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_across_calls_of_every_shape() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let server = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let path = req.uri().path().to_owned();
                        // Read to the end: a server that answers without reading closes.
                        let _ = http_body_util::BodyExt::collect(req.into_body()).await;
                        let response = match path.as_str() {
                            "/empty" => http::Response::builder()
                                .status(StatusCode::NO_CONTENT)
                                .body(full(Bytes::new())),
                            "/chunked" => {
                                let chunks = futures::stream::iter(["a", "b", "c"].map(|c| {
                                    Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(
                                        Bytes::from(c),
                                    ))
                                }));
                                http::Response::builder().body(http_body_util::BodyExt::boxed(
                                    http_body_util::StreamBody::new(chunks),
                                ))
                            }
                            _ => http::Response::builder().body(full("ok")),
                        };
                        Ok::<_, std::convert::Infallible>(response.expect("response"))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    let run = start_redirected(
        vec![("kept", vec![Endpoint::new("127.0.0.1", port, "kept")])],
        |_| {},
    )
    .await;
    deploy(&run.gw, "kept", "cat").await;
    let gw = run.gw.without_auth();
    for _ in 0..5 {
        let r = gw.get("/function/kept").await;
        assert_eq!((r.status, r.text()), (StatusCode::OK, "ok".to_owned()));
        let r = gw.send(Method::HEAD, "/function/kept", &[], "").await;
        assert_eq!(r.status, StatusCode::OK);
        let r = gw.get("/function/kept/empty").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = gw.get("/function/kept/chunked").await;
        assert_eq!((r.status, r.text()), (StatusCode::OK, "abc".to_owned()));
        let r = gw
            .send(Method::POST, "/function/kept", &[], vec![7u8; 100_000])
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "25 sequential calls (GET, HEAD, 204, chunked, a 100 kB upload) share one connection"
    );
    run.stop().await;
    server.abort();
}

#[tokio::test]
async fn a_slow_upload_answered_early_does_not_hold_up_other_calls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // `/early` answers 401 at once and reads the body later; `/` answers `ok`.
    let (ep, server) = replica(
        "early",
        |req: http::Request<hyper::body::Incoming>| async move {
            if req.uri().path() == "/early" {
                tokio::spawn(http_body_util::BodyExt::collect(req.into_body()));
                return http::Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .body(full("no"))
                    .expect("response");
            }
            http::Response::new(full("ok"))
        },
    )
    .await;
    let run = start_redirected(vec![("early", vec![ep])], |c| {
        c.upstream_timeout = Duration::from_secs(10)
    })
    .await;
    deploy(&run.gw, "early", "cat").await;
    let gw = run.gw.without_auth();
    assert_eq!(gw.get("/function/early").await.text(), "ok");

    // Caller A: declares 1 MB, sends 100 bytes, gets its 401, and keeps the upload open.
    let mut a = tokio::net::TcpStream::connect(run.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /function/early/early HTTP/1.1\r\nhost: gw\r\ncontent-length: 1000000\r\n\r\n{}",
        "x".repeat(100)
    );
    a.write_all(head.as_bytes()).await.expect("write");
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), a.read(&mut buf))
        .await
        .expect("A's answer in time")
        .expect("read");
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );

    // Caller B is not queued behind A's upload.
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let r = gw.get("/function/early").await;
        assert_eq!((r.status, r.text()), (StatusCode::OK, "ok".to_owned()));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "B waited {:?} behind A's upload",
            started.elapsed()
        );
    }
    drop(a);
    run.stop().await;
    server.abort();
}

#[tokio::test]
async fn a_refused_replica_is_skipped_within_the_call() {
    let (_, closed, task) = stall_and_refuse().await;
    let (good, server) = replica("good", |_req| async { http::Response::new(full("good")) }).await;
    let run = start_redirected(vec![("pair", vec![closed, good])], |_| {}).await;
    deploy(&run.gw, "pair", "cat").await;
    let gw = run.gw.without_auth();
    for i in 0..6 {
        let r = gw.send(Method::POST, "/function/pair", &[], "x").await;
        assert_eq!(
            (r.status, r.text()),
            (StatusCode::OK, "good".to_owned()),
            "call {i}: the refusing replica is evicted and the call goes on to the other"
        );
        // Past the cache TTL the provider lists the refusing replica again.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = gw.get("/metrics").await.text();
    assert!(!metrics.contains(r#"code="502""#), "{metrics}");
    run.stop().await;
    task.abort();
    server.abort();
}

#[tokio::test]
async fn a_caller_that_abandons_its_upload_does_not_fail_the_replica() {
    use tokio::io::AsyncWriteExt;
    let (ep, server) = replica(
        "sink",
        |req: http::Request<hyper::body::Incoming>| async move {
            let _ = http_body_util::BodyExt::collect(req.into_body()).await;
            http::Response::new(full("read"))
        },
    )
    .await;
    let run = start_redirected(vec![("sink", vec![ep])], |_| {}).await;
    deploy(&run.gw, "sink", "cat").await;
    let gw = run.gw.without_auth();
    for _ in 0..3 {
        let mut a = tokio::net::TcpStream::connect(run.addr)
            .await
            .expect("connect");
        a.write_all(
            b"POST /function/sink HTTP/1.1\r\nhost: gw\r\ncontent-length: 1000\r\n\r\nonly-some",
        )
        .await
        .expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(a);
    }
    let metrics = eventually(Duration::from_secs(5), || {
        let gw = gw.clone();
        async move {
            let text = gw.get("/metrics").await.text();
            text.contains(r#"function_name="sink.openfaas-fn",code="400"} 3"#)
                .then_some(text)
        }
    })
    .await;
    assert!(!metrics.contains(r#"code="502""#), "{metrics}");
    let r = gw.send(Method::POST, "/function/sink", &[], "whole").await;
    assert_eq!((r.status, r.text()), (StatusCode::OK, "read".to_owned()));
    run.stop().await;
    server.abort();
}
