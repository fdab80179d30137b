//! Unit tests of `MemoryProvider`: every method and every error kind it produces, against its
//! real replica servers on 127.0.0.1.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::*;
use crate::model::{LABEL_FUNCTION_NAME, LABEL_SCALE_MIN};
use crate::provider::ProviderExt;

const WAIT: Duration = Duration::from_secs(5);

type TestResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// One HTTP/1.1 request to `endpoint`; returns status and body.
async fn call(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::result::Result<(u16, String), Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(endpoint.authority()).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", endpoint.authority());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body.to_owned())))?)
        .await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn fd(name: &str, command: &str) -> FunctionDeployment {
    FunctionDeployment::new(name, "ghcr.io/openfaas/alpine:latest").with_env_process(command)
}

async fn deployed(
    p: &MemoryProvider,
    name: &str,
    command: &str,
) -> std::result::Result<Endpoint, Error> {
    let eps = p.deploy_and_wait(fd(name, command), WAIT).await?;
    eps.into_iter()
        .next()
        .ok_or_else(|| Error::internal("no endpoint"))
}

/// `wait_ready` of `name` (default namespace) times out: no replica becomes ready.
async fn assert_no_ready_replica(p: &MemoryProvider, name: &str) -> TestResult {
    let err = p
        .wait_ready(name, "", Duration::from_millis(20))
        .await
        .err()
        .ok_or("ready at zero")?;
    assert_eq!(err.kind(), ErrorKind::Timeout);
    Ok(())
}

async fn log_texts(p: &MemoryProvider, name: &str) -> Result<Vec<String>> {
    let stream = p.logs(LogRequest::new(name, "")).await?;
    let entries: Vec<Result<crate::LogEntry>> = stream.collect().await;
    entries.into_iter().map(|e| e.map(|e| e.text)).collect()
}

#[tokio::test]
async fn info_declares_every_capability_and_health_is_ok() -> TestResult {
    let p = MemoryProvider::new();
    let info = p.info().await?;
    assert_eq!(info.capabilities, Capabilities::all());
    assert_eq!(info.orchestration, "memory");
    assert_eq!(info.default_namespace, "openfaas-fn");
    assert!(
        !info.provider.is_empty()
            && !info.version.sha.is_empty()
            && !info.version.release.is_empty()
    );
    p.health().await?;
    Ok(())
}

#[tokio::test]
async fn deploy_then_get_reports_replicas_labels_and_usage() -> TestResult {
    let p = MemoryProvider::new();
    let before = Utc::now();
    p.deploy(fd("echo", "cat").with_label("team", "a")).await?;
    let status = p.get("echo", "").await?;
    assert_eq!(status.name, "echo");
    assert_eq!(status.namespace, "openfaas-fn");
    assert_eq!(status.replicas, 1);
    assert_eq!(status.available_replicas, 1);
    assert_eq!(
        status.labels.get(LABEL_FUNCTION_NAME).map(String::as_str),
        Some("echo")
    );
    assert_eq!(status.labels.get("team").map(String::as_str), Some("a"));
    assert!(status.created_at >= before);
    assert!(status.usage.is_some());
    assert_eq!(p.get("echo", "openfaas-fn").await?, status);
    Ok(())
}

#[tokio::test]
async fn deploy_errors_change_nothing() -> TestResult {
    let p = MemoryProvider::new();
    let err = p
        .deploy(fd("Bad_Name", "cat"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("service"))
    );
    let err = p
        .deploy(fd("f", "cat").with_namespace("nope"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::NotFound, Some("namespace"))
    );
    let err = p
        .deploy(fd("f", "cat").with_secret("missing"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::NotFound, Some("secrets[0]"))
    );
    assert!(p.list("").await?.is_empty());

    p.deploy(fd("f", "cat")).await?;
    let created = p.get("f", "").await?.created_at;
    let err = p
        .deploy(fd("f", "env").with_label(LABEL_SCALE_MIN, "3"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let status = p.get("f", "").await?;
    assert_eq!(
        (
            status.env_process.as_str(),
            status.replicas,
            status.created_at
        ),
        ("cat", 1, created)
    );
    Ok(())
}

#[tokio::test]
async fn replicas_emulate_the_classic_watchdog() -> TestResult {
    let p = MemoryProvider::new();
    let ep = deployed(&p, "echo", "cat").await?;
    assert_eq!(
        call(&ep, "GET", "/_/health", &[], "").await?,
        (200, "OK".into())
    );
    assert_eq!(
        call(&ep, "POST", "/", &[], "hello").await?,
        (200, "hello".into())
    );
    assert_eq!(call(&ep, "OPTIONS", "/", &[], "").await?.0, 405);

    let ep = deployed(&p, "words", "echo hello world").await?;
    assert_eq!(
        call(&ep, "GET", "/", &[], "").await?,
        (200, "hello world\n".into())
    );

    let ep = deployed(&p, "missing", "python3 index.py").await?;
    let (status, body) = call(&ep, "POST", "/", &[], "").await?;
    assert_eq!(status, 500);
    assert!(body.contains("not available in MemoryProvider"), "{body}");

    let logs = log_texts(&p, "echo").await?;
    assert!(logs.iter().any(|l| l == "Forking fprocess."), "{logs:?}");
    assert!(
        logs.iter()
            .any(|l| l.starts_with("Wrote 5 Bytes - Duration: ") && l.ends_with('s')),
        "{logs:?}"
    );
    Ok(())
}

#[tokio::test]
async fn env_shows_function_env_fprocess_and_cgi_headers() -> TestResult {
    let p = MemoryProvider::new();
    p.deploy(fd("env", "env").with_env("GREETING", "hi"))
        .await?;
    let ep = p.wait_ready("env", "", WAIT).await?.remove(0);
    let (status, body) = call(&ep, "PUT", "/a/b?x=1", &[("X-Custom-Header", "v")], "").await?;
    assert_eq!(status, 200);
    for line in [
        "GREETING=hi",
        "fprocess=env",
        "Http_Method=PUT",
        "Http_Path=/a/b",
        "Http_Query=x=1",
        "Http_X_Custom_Header=v",
    ] {
        assert!(body.lines().any(|l| l == line), "{line} not in {body}");
    }
    Ok(())
}

#[tokio::test]
async fn limits_memory_caps_the_request_body() -> TestResult {
    let p = MemoryProvider::new();
    let mut d = fd("small", "cat");
    d.limits = Some(crate::FunctionResources {
        memory: "1Ki".into(),
        ..Default::default()
    });
    let ep = p.deploy_and_wait(d, WAIT).await?.remove(0);
    assert_eq!(call(&ep, "POST", "/", &[], &"x".repeat(1024)).await?.0, 200);
    assert_eq!(call(&ep, "POST", "/", &[], &"x".repeat(1025)).await?.0, 413);
    Ok(())
}

#[tokio::test]
async fn secrets_are_mounted_with_their_current_value() -> TestResult {
    let p = MemoryProvider::new();
    p.create_secret(Secret::new("api-key", "", "one")).await?;
    p.deploy(fd("reader", "cat /var/openfaas/secrets/api-key").with_secret("api-key"))
        .await?;
    let ep = p.wait_ready("reader", "", WAIT).await?.remove(0);
    assert_eq!(call(&ep, "GET", "/", &[], "").await?, (200, "one".into()));
    p.update_secret(Secret::raw("api-key", "openfaas-fn", b"two".to_vec()))
        .await?;
    assert_eq!(call(&ep, "GET", "/", &[], "").await?, (200, "two".into()));
    Ok(())
}

#[tokio::test]
async fn update_keeps_creation_time_and_serves_the_new_spec() -> TestResult {
    let p = MemoryProvider::new();
    let ep = deployed(&p, "f", "echo one").await?;
    let created = p.get("f", "").await?.created_at;
    p.update(fd("f", "echo two").with_label("v", "2")).await?;
    let status = p.get("f", "").await?;
    assert_eq!(status.created_at, created);
    assert_eq!(status.env_process, "echo two");
    assert_eq!(status.labels.get("v").map(String::as_str), Some("2"));
    assert_eq!(call(&ep, "GET", "/", &[], "").await?, (200, "two\n".into()));

    // The replica count is kept, unless scale.min asks for more.
    p.scale(ScaleRequest::new("f", "", 2)).await?;
    p.update(fd("f", "echo three")).await?;
    assert_eq!(p.get("f", "").await?.replicas, 2);
    p.update(fd("f", "echo three").with_label(LABEL_SCALE_MIN, "3"))
        .await?;
    assert_eq!(p.get("f", "").await?.replicas, 3);
    assert_eq!(p.resolve("f", "").await?.len(), 3);

    let err = p
        .update(fd("absent", "cat"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = p
        .update(fd("f", "cat").with_secret("nope"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::NotFound, Some("secrets[0]"))
    );
    let err = p
        .update(FunctionDeployment::new("f", "UPPER"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("image"))
    );
    Ok(())
}

#[tokio::test]
async fn delete_stops_replicas_and_is_not_found_after() -> TestResult {
    let p = MemoryProvider::new();
    let ep = deployed(&p, "gone", "cat").await?;
    p.delete("gone", "").await?;
    assert!(
        TcpStream::connect(ep.authority()).await.is_err(),
        "port still accepts"
    );
    for err in [
        p.get("gone", "").await.err(),
        p.delete("gone", "").await.err(),
        p.resolve("gone", "").await.err(),
    ] {
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::NotFound));
    }
    let err = p.delete("Gone", "").await.err().ok_or("accepted")?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("name"))
    );
    Ok(())
}

#[tokio::test]
async fn list_is_sorted_and_namespaced() -> TestResult {
    let p = MemoryProvider::new();
    assert!(p.list("").await?.is_empty());
    p.create_namespace(FunctionNamespace::new("team-a")).await?;
    p.deploy(fd("zeta", "cat")).await?;
    p.deploy(fd("alpha", "cat")).await?;
    p.deploy(fd("alpha", "cat").with_namespace("team-a"))
        .await?;
    let names: Vec<String> = p.list("").await?.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    let in_a = p.list("team-a").await?;
    assert_eq!((in_a.len(), in_a[0].namespace.as_str()), (1, "team-a"));
    assert_eq!(
        p.list("nope").await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        p.list("-bad")
            .await
            .err()
            .and_then(|e| e.field().map(str::to_owned))
            .as_deref(),
        Some("namespace")
    );
    Ok(())
}

#[tokio::test]
async fn scale_up_down_and_to_zero() -> TestResult {
    let p = MemoryProvider::new();
    p.deploy(fd("s", "cat")).await?;
    let first = p.resolve("s", "").await?;
    p.scale(ScaleRequest::new("s", "", 3)).await?;
    let three = p.resolve("s", "").await?;
    assert_eq!(three.len(), 3);
    for ep in &three {
        assert_eq!(call(ep, "POST", "/", &[], "x").await?, (200, "x".into()));
    }
    p.scale(ScaleRequest::new("s", "", 3)).await?;
    assert_eq!(
        p.resolve("s", "").await?,
        three,
        "scaling to the current count changed replicas"
    );

    p.scale(ScaleRequest::new("s", "", 1)).await?;
    assert_eq!(
        p.resolve("s", "").await?,
        first,
        "scale down keeps the oldest replica"
    );
    for ep in &three[1..] {
        assert!(
            TcpStream::connect(ep.authority()).await.is_err(),
            "stopped replica still accepts"
        );
    }

    p.scale(ScaleRequest::new("s", "", 0)).await?;
    assert!(p.resolve("s", "").await?.is_empty());
    let status = p.get("s", "").await?;
    assert_eq!((status.replicas, status.available_replicas), (0, 0));
    let json = serde_json::to_value(&status)?;
    assert!(json.get("replicas").is_none() && json.get("createdAt").is_some());
    assert!(TcpStream::connect(first[0].authority()).await.is_err());

    let err = p
        .scale(ScaleRequest::new("s", "", 1001))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("replicas"))
    );
    let err = p
        .scale(ScaleRequest::new("absent", "", 1))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    Ok(())
}

#[tokio::test]
async fn wait_ready_is_woken_by_readiness_and_times_out() -> TestResult {
    let p = MemoryProvider::with_config(
        MemoryConfig::default().with_ready_delay(Duration::from_millis(50)),
    );
    p.deploy(fd("slow", "cat")).await?;
    assert!(
        p.resolve("slow", "").await?.is_empty(),
        "ready before the delay"
    );
    assert_eq!(p.get("slow", "").await?.available_replicas, 0);
    let eps = p.wait_ready("slow", "", WAIT).await?;
    assert_eq!(eps.len(), 1);
    assert_eq!(call(&eps[0], "GET", "/_/health", &[], "").await?.0, 200);

    p.scale(ScaleRequest::new("slow", "", 0)).await?;
    assert_no_ready_replica(&p, "slow").await?;

    // Deleting a function wakes its waiters with NotFound.
    let waiter = {
        let p = p.clone();
        tokio::spawn(async move { p.wait_ready("slow", "", WAIT).await })
    };
    tokio::task::yield_now().await;
    p.delete("slow", "").await?;
    let err = waiter.await?.err().ok_or("ready after delete")?;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        p.wait_ready("slow", "", WAIT).await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    Ok(())
}

#[tokio::test]
async fn not_ready_replicas_fail_the_health_check() -> TestResult {
    let p = MemoryProvider::with_config(
        MemoryConfig::default().with_ready_delay(Duration::from_secs(60)),
    );
    p.deploy(fd("starting", "cat")).await?;
    let port = {
        let state = p.inner.lock();
        state
            .functions
            .get(&key("openfaas-fn", "starting"))
            .map(|f| f.replicas[0].endpoint.clone())
    };
    let ep = port.ok_or("no replica")?;
    assert_eq!(call(&ep, "GET", "/_/health", &[], "").await?.0, 503);
    Ok(())
}

#[tokio::test]
async fn logs_filter_and_follow() -> TestResult {
    let p = MemoryProvider::new();
    let ep = deployed(&p, "chatty", "cat").await?;
    call(&ep, "POST", "/", &[], "abc").await?;
    assert_eq!(log_texts(&p, "chatty").await?.len(), 2);
    let tail: Vec<_> = p
        .logs(LogRequest::new("chatty", "").with_tail(1))
        .await?
        .collect()
        .await;
    assert_eq!(tail.len(), 1);

    let mut follow = p
        .logs(LogRequest::new("chatty", "").with_follow(true).with_tail(1))
        .await?;
    let first = follow.next().await.ok_or("ended")??;
    assert!(first.text.starts_with("Wrote 3 Bytes"));
    assert_eq!(first.instance, ep.instance);
    p.append_log("chatty", "", "manual", "written after opening")?;
    let next = follow.next().await.ok_or("ended")??;
    assert_eq!(
        (next.text.as_str(), next.instance.as_str()),
        ("written after opening", "manual")
    );
    p.delete("chatty", "").await?;
    assert!(
        follow.next().await.is_none(),
        "follow did not end on delete"
    );
    assert_eq!(
        p.logs(LogRequest::new("chatty", ""))
            .await
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    Ok(())
}

#[tokio::test]
async fn secrets_crud_and_errors() -> TestResult {
    let p = MemoryProvider::new();
    p.create_secret(Secret::new("b", "", "1")).await?;
    p.create_secret(Secret::new("a", "openfaas-fn", "2"))
        .await?;
    let names: Vec<String> = p
        .list_secrets("")
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(p.list_secrets("").await?[0].namespace, "openfaas-fn");
    let err = p
        .create_secret(Secret::new("a", "", "3"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let err = p
        .update_secret(Secret::new("zz", "", "3"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = p
        .create_secret(Secret::new("Bad", "", "3"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("name"))
    );
    let err = p
        .create_secret(Secret::new("x", "nope", "3"))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    p.delete_secret("a", "").await?;
    assert_eq!(
        p.delete_secret("a", "").await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(p.list_secrets("").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn namespaces_crud_and_conflicts() -> TestResult {
    let p = MemoryProvider::new();
    assert_eq!(p.list_namespaces().await?, ["openfaas-fn"]);
    let mut ns = FunctionNamespace::new("dev");
    ns.labels.insert("openfaas".into(), "1".into());
    p.create_namespace(ns.clone()).await?;
    assert_eq!(p.get_namespace("dev").await?, ns);
    assert_eq!(p.get_namespace("").await?.name, "openfaas-fn");
    assert_eq!(
        p.create_namespace(ns.clone()).await.err().map(|e| e.kind()),
        Some(ErrorKind::AlreadyExists)
    );
    ns.annotations.insert("owner".into(), "me".into());
    p.update_namespace(ns.clone()).await?;
    assert_eq!(
        p.get_namespace("dev")
            .await?
            .annotations
            .get("owner")
            .map(String::as_str),
        Some("me")
    );
    assert_eq!(p.list_namespaces().await?, ["dev", "openfaas-fn"]);

    p.create_secret(Secret::new("s", "dev", "v")).await?;
    let err = p.delete_namespace("dev").await.err().ok_or("deleted")?;
    assert_eq!(err.kind(), ErrorKind::Conflict);
    p.delete_secret("s", "dev").await?;
    p.deploy(fd("f", "cat").with_namespace("dev")).await?;
    assert_eq!(
        p.delete_namespace("dev").await.err().map(|e| e.kind()),
        Some(ErrorKind::Conflict)
    );
    p.delete("f", "dev").await?;
    p.delete_namespace("dev").await?;
    assert_eq!(
        p.delete_namespace("dev").await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        p.get_namespace("dev").await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        p.update_namespace(FunctionNamespace::new("dev"))
            .await
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        p.delete_namespace("openfaas-fn")
            .await
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::Conflict)
    );
    let err = p
        .create_namespace(FunctionNamespace::new(""))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("name"))
    );
    Ok(())
}

#[tokio::test]
async fn capabilities_switched_off_are_unsupported() -> TestResult {
    let p = MemoryProvider::with_config(
        MemoryConfig::default().with_capabilities(Capabilities::default()),
    );
    p.deploy(fd("f", "cat")).await?;
    let unsupported = [
        p.scale(ScaleRequest::new("f", "", 2)).await.err(),
        p.logs(LogRequest::new("f", "")).await.err(),
        p.list_secrets("").await.err(),
        p.create_secret(Secret::new("s", "", "v")).await.err(),
        p.update_secret(Secret::new("s", "", "v")).await.err(),
        p.delete_secret("s", "").await.err(),
        p.create_namespace(FunctionNamespace::new("x")).await.err(),
        p.update_namespace(FunctionNamespace::new("x")).await.err(),
        p.delete_namespace("x").await.err(),
        p.deploy(fd("g", "cat").with_secret("s")).await.err(),
    ];
    for (i, err) in unsupported.into_iter().enumerate() {
        assert_eq!(
            err.map(|e| e.kind()),
            Some(ErrorKind::Unsupported),
            "case {i}"
        );
    }
    let mut caps = Capabilities::all();
    caps.scale_can_zero = false;
    caps.replicas_max = Some(2);
    let p = MemoryProvider::with_config(MemoryConfig::default().with_capabilities(caps));
    p.deploy(fd("f", "cat")).await?;
    assert_eq!(
        p.scale(ScaleRequest::new("f", "", 0))
            .await
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::Unsupported)
    );
    let err = p
        .scale(ScaleRequest::new("f", "", 3))
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("replicas"))
    );
    Ok(())
}

#[tokio::test]
async fn append_log_needs_an_existing_function() {
    let p = MemoryProvider::new();
    assert_eq!(
        p.append_log("nope", "", "i", "t").err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
}

/// An endpoint a test of callers would point a function at (nothing listens there).
fn elsewhere(instance: &str) -> Endpoint {
    Endpoint::new("127.0.0.1", 9, instance)
}

#[tokio::test]
async fn endpoint_override_answers_only_while_a_replica_is_ready() -> TestResult {
    let p = MemoryProvider::with_config(
        MemoryConfig::default().with_ready_delay(Duration::from_millis(50)),
    );
    let fixed = vec![elsewhere("fixed-a"), elsewhere("fixed-b")];
    p.set_endpoints("o", "", fixed.clone())?;
    p.deploy(fd("o", "cat")).await?;
    p.deploy(fd("plain", "cat")).await?;
    assert!(
        p.resolve("o", "").await?.is_empty(),
        "the override answered before a replica was ready"
    );
    assert_eq!(p.wait_ready("o", "", WAIT).await?, fixed);
    assert_eq!(p.resolve("o", "").await?, fixed);
    assert_eq!(
        p.resolve("o", "openfaas-fn").await?,
        fixed,
        "\"\" is the default"
    );
    let own = p.wait_ready("plain", "", WAIT).await?;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].host, "127.0.0.1");
    assert_ne!(own[0].port, 9, "another function got the override");
    // The replicas still run and serve; only the answer changed.
    assert_eq!(p.get("o", "").await?.available_replicas, 1);

    // Scaled to zero: nothing to resolve, and wait_ready times out as without an override.
    p.scale(ScaleRequest::new("o", "", 0)).await?;
    assert!(p.resolve("o", "").await?.is_empty());
    assert_no_ready_replica(&p, "o").await?;
    // Scaling from zero: wait_ready waits for the new replica, then answers the override.
    let waiter = {
        let p = p.clone();
        tokio::spawn(async move { p.wait_ready("o", "", WAIT).await })
    };
    p.scale(ScaleRequest::new("o", "", 2)).await?;
    assert_eq!(waiter.await??, fixed);

    // A waiter is still woken with NotFound by a delete.
    p.scale(ScaleRequest::new("o", "", 0)).await?;
    let waiter = {
        let p = p.clone();
        tokio::spawn(async move { p.wait_ready("o", "", WAIT).await })
    };
    tokio::task::yield_now().await;
    p.delete("o", "").await?;
    let err = waiter.await?.err().ok_or("ready after delete")?;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    Ok(())
}

#[tokio::test]
async fn endpoint_override_outlives_delete_until_cleared() -> TestResult {
    let p = MemoryProvider::new();
    p.create_namespace(FunctionNamespace::new("team-a")).await?;
    let fixed = vec![elsewhere("fixed")];
    p.set_endpoints("o", "", fixed.clone())?;
    // An override does not make a function exist.
    for err in [
        p.resolve("o", "").await.err(),
        p.wait_ready("o", "", WAIT).await.err(),
    ] {
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::NotFound));
    }
    p.deploy(fd("o", "cat")).await?;
    assert_eq!(p.resolve("o", "").await?, fixed);
    // Overrides are per namespace.
    p.deploy(fd("o", "cat").with_namespace("team-a")).await?;
    assert_ne!(p.resolve("o", "team-a").await?, fixed);

    p.delete("o", "").await?;
    assert_eq!(
        p.resolve("o", "").await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    p.deploy(fd("o", "cat")).await?;
    assert_eq!(p.resolve("o", "").await?, fixed, "lost on redeploy");

    // Setting again replaces; clearing restores the replicas' own endpoints.
    let other = vec![elsewhere("other")];
    p.set_endpoints("o", "openfaas-fn", other.clone())?;
    assert_eq!(p.wait_ready("o", "", WAIT).await?, other);
    assert_eq!(p.clear_endpoints("o", ""), Some(other));
    assert_eq!(p.clear_endpoints("o", ""), None);
    let own = p.resolve("o", "").await?;
    assert_eq!(own.len(), 1);
    assert_ne!(own[0].port, 9);
    assert_eq!(
        call(&own[0], "POST", "/", &[], "x").await?,
        (200, "x".into())
    );

    // Invalid names and an empty override are rejected, and leave nothing set.
    for (name, namespace, endpoints, field) in [
        ("O", "", fixed.clone(), "name"),
        ("o", "-bad", fixed.clone(), "namespace"),
        ("o", "", Vec::new(), "endpoints"),
    ] {
        let err = p
            .set_endpoints(name, namespace, endpoints)
            .err()
            .ok_or("accepted")?;
        assert_eq!(
            (err.kind(), err.field()),
            (ErrorKind::InvalidInput, Some(field))
        );
    }
    assert_eq!(p.resolve("o", "").await?, own);
    Ok(())
}
