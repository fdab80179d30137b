//! In-process tests: a real gateway (`serve`) on 127.0.0.1:0 over `MemoryProvider`, driven
//! over HTTP. Covers routes, auth (every path variant), error codes, metrics and shutdown.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::{Gw, basic, eventually};
use faas_core::memory::{MemoryConfig, MemoryProvider};
use faas_core::{
    DynProvider, Endpoint, FunctionDeployment, FunctionNamespace, FunctionStatus, LogRequest,
    LogStream, Provider, ProviderInfo, ScaleRequest, Secret, SecretInfo,
};
use faas_gateway::auth::Credentials;
use faas_gateway::{AppState, GatewayConfig, serve};
use http::{Method, StatusCode};
use serde_json::json;
use tokio::sync::oneshot;

const USER: &str = "admin";
const PASSWORD: &str = "correct-horse-battery-staple";

struct Running {
    gw: Gw,
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
    let done = tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    Running {
        gw: Gw::new(format!("http://{addr}"), Some(basic(USER, PASSWORD))),
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
        !metrics.contains("made-up") && !metrics.contains("nowhere"),
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

/// A backend that is MemoryProvider except that some functions resolve to fixed endpoints
/// (a refusing port, a server that stalls): the upstream failure cases.
#[derive(Debug)]
struct Redirected {
    inner: MemoryProvider,
    to: HashMap<String, Endpoint>,
}

#[async_trait]
impl Provider for Redirected {
    async fn info(&self) -> faas_core::Result<ProviderInfo> {
        self.inner.info().await
    }
    async fn health(&self) -> faas_core::Result<()> {
        self.inner.health().await
    }
    async fn deploy(&self, d: FunctionDeployment) -> faas_core::Result<()> {
        self.inner.deploy(d).await
    }
    async fn update(&self, d: FunctionDeployment) -> faas_core::Result<()> {
        self.inner.update(d).await
    }
    async fn delete(&self, n: &str, ns: &str) -> faas_core::Result<()> {
        self.inner.delete(n, ns).await
    }
    async fn get(&self, n: &str, ns: &str) -> faas_core::Result<FunctionStatus> {
        self.inner.get(n, ns).await
    }
    async fn list(&self, ns: &str) -> faas_core::Result<Vec<FunctionStatus>> {
        self.inner.list(ns).await
    }
    async fn scale(&self, r: ScaleRequest) -> faas_core::Result<()> {
        self.inner.scale(r).await
    }
    async fn resolve(&self, n: &str, ns: &str) -> faas_core::Result<Vec<Endpoint>> {
        let real = self.inner.resolve(n, ns).await?;
        Ok(self.to.get(n).map_or(real, |e| vec![e.clone()]))
    }
    async fn wait_ready(&self, n: &str, ns: &str, t: Duration) -> faas_core::Result<Vec<Endpoint>> {
        let real = self.inner.wait_ready(n, ns, t).await?;
        Ok(self.to.get(n).map_or(real, |e| vec![e.clone()]))
    }
    async fn logs(&self, r: LogRequest) -> faas_core::Result<LogStream> {
        self.inner.logs(r).await
    }
    async fn list_secrets(&self, ns: &str) -> faas_core::Result<Vec<SecretInfo>> {
        self.inner.list_secrets(ns).await
    }
    async fn create_secret(&self, s: Secret) -> faas_core::Result<()> {
        self.inner.create_secret(s).await
    }
    async fn update_secret(&self, s: Secret) -> faas_core::Result<()> {
        self.inner.update_secret(s).await
    }
    async fn delete_secret(&self, n: &str, ns: &str) -> faas_core::Result<()> {
        self.inner.delete_secret(n, ns).await
    }
    async fn list_namespaces(&self) -> faas_core::Result<Vec<String>> {
        self.inner.list_namespaces().await
    }
    async fn get_namespace(&self, n: &str) -> faas_core::Result<FunctionNamespace> {
        self.inner.get_namespace(n).await
    }
    async fn create_namespace(&self, n: FunctionNamespace) -> faas_core::Result<()> {
        self.inner.create_namespace(n).await
    }
    async fn update_namespace(&self, n: FunctionNamespace) -> faas_core::Result<()> {
        self.inner.update_namespace(n).await
    }
    async fn delete_namespace(&self, n: &str) -> faas_core::Result<()> {
        self.inner.delete_namespace(n).await
    }
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
    let to = HashMap::from([
        ("sleeper".to_owned(), stall),
        ("refuser".to_owned(), closed),
    ]);
    let provider = Redirected {
        inner: MemoryProvider::new(),
        to,
    };
    let run = start_with(Arc::new(provider), |c| {
        c.upstream_timeout = Duration::from_millis(300)
    })
    .await;
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
    let to = HashMap::from([("slow".to_owned(), Endpoint::new("127.0.0.1", port, "slow"))]);
    let mut run = start_with(
        Arc::new(Redirected {
            inner: MemoryProvider::new(),
            to,
        }),
        |_| {},
    )
    .await;
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
