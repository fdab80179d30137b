//! `MemoryProvider` served over gRPC on 127.0.0.1, driven through `RemoteProvider`: every
//! method round trips, every error kind crosses the wire with its field, health answers
//! through the standard `grpc.health.v1` client, and the client reconnects after a restart.
#![cfg(feature = "grpc")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use async_trait::async_trait;
use bytes::Bytes;
use faas_core::grpc::{self, RemoteConfig, RemoteProvider, SERVICE_NAME};
use faas_core::memory::{MemoryConfig, MemoryProvider};
use faas_core::{
    Capabilities, Endpoint, Error, ErrorKind, FunctionDeployment, FunctionNamespace,
    FunctionStatus, LogRequest, LogStream, Provider, ProviderExt, ProviderInfo, ScaleRequest,
    Secret, SecretInfo,
};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(5);

/// A provider served on 127.0.0.1 until dropped or stopped.
struct Served {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<faas_core::Result<()>>,
}

impl Served {
    async fn start(provider: Arc<dyn Provider>) -> Result<Self> {
        Self::start_on(provider, TcpListener::bind("127.0.0.1:0").await?).await
    }

    async fn start_on(provider: Arc<dyn Provider>, listener: TcpListener) -> Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(grpc::serve_with_shutdown(provider, listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
        })
    }

    async fn client(&self) -> Result<RemoteProvider> {
        let config = RemoteConfig::new(format!("http://{}", self.addr)).with_request_timeout(WAIT);
        Ok(RemoteProvider::connect(config).await?)
    }

    async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn http_post(endpoint: &Endpoint, body: &str) -> Result<(u16, String)> {
    let stream = TcpStream::connect(endpoint.authority()).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::post("/")
        .header("host", endpoint.authority())
        .body(Full::new(Bytes::from(body.to_owned())))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn fd(name: &str, command: &str) -> FunctionDeployment {
    FunctionDeployment::new(name, "ghcr.io/openfaas/alpine:latest").with_env_process(command)
}

fn expect_err<T: std::fmt::Debug>(result: faas_core::Result<T>) -> Result<Error> {
    match result {
        Ok(v) => bail!("expected an error, got {v:?}"),
        Err(e) => Ok(e),
    }
}

#[tokio::test]
async fn every_method_round_trips() -> Result<()> {
    let memory = MemoryProvider::new();
    let served = Served::start(Arc::new(memory.clone())).await?;
    let remote = served.client().await?;

    // info and health
    assert_eq!(remote.info().await?, memory.info().await?);
    remote.health().await?;

    // deploy, get, list
    let deployment = fd("echo", "cat")
        .with_label("team", "a")
        .with_annotation("note", "{\n  \"a\": 1\n}");
    remote.deploy(deployment.clone()).await?;
    let status = remote.get("echo", "").await?;
    assert_eq!(
        status,
        memory.get("echo", "").await?,
        "status changed crossing the wire"
    );
    assert_eq!(
        status.to_deployment(),
        deployment.clone().with_namespace("openfaas-fn")
    );
    assert_eq!(remote.list("").await?, vec![status.clone()]);

    // update keeps creation time
    remote.update(fd("echo", "cat").with_env("V", "2")).await?;
    let updated = remote.get("echo", "openfaas-fn").await?;
    assert_eq!(updated.created_at, status.created_at);
    assert_eq!(updated.env_vars.get("V").map(String::as_str), Some("2"));

    // scale, resolve, wait_ready, and a real call to an endpoint
    remote.scale(ScaleRequest::new("echo", "", 2)).await?;
    let endpoints = remote.resolve("echo", "").await?;
    assert_eq!(endpoints.len(), 2);
    assert_eq!(endpoints, memory.resolve("echo", "").await?);
    assert_eq!(remote.wait_ready("echo", "", WAIT).await?, endpoints);
    assert_eq!(
        http_post(&endpoints[0], "ping").await?,
        (200, "ping".to_owned())
    );

    // logs: backlog, then a line written after the stream opened
    let backlog: Vec<_> = remote
        .logs(LogRequest::new("echo", ""))
        .await?
        .collect()
        .await;
    ensure!(
        backlog
            .iter()
            .any(|e| e.as_ref().is_ok_and(|e| e.text == "Forking fprocess.")),
        "{backlog:?}"
    );
    let mut follow = remote
        .logs(LogRequest::new("echo", "").with_follow(true).with_tail(1))
        .await?;
    let last = follow.next().await.context("follow ended")??;
    ensure!(last.text.starts_with("Wrote 4 Bytes"), "{last:?}");
    http_post(&endpoints[1], "later").await?;
    let next = tokio::time::timeout(WAIT, follow.next())
        .await?
        .context("follow ended")??;
    assert_eq!(
        (next.text.as_str(), next.instance.as_str()),
        ("Forking fprocess.", endpoints[1].instance.as_str())
    );
    drop(follow);

    // secrets
    remote
        .create_secret(Secret::new("token", "", "one"))
        .await?;
    remote
        .create_secret(Secret::raw("bin", "", vec![0u8, 159, 146, 150]))
        .await?;
    let names: Vec<String> = remote
        .list_secrets("")
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["bin", "token"]);
    remote
        .update_secret(Secret::new("token", "", "two"))
        .await?;
    remote
        .deploy(fd("reader", "cat /var/openfaas/secrets/token").with_secret("token"))
        .await?;
    let reader = remote.wait_ready("reader", "", WAIT).await?;
    assert_eq!(http_post(&reader[0], "").await?, (200, "two".to_owned()));
    remote.delete("reader", "").await?;
    remote.delete_secret("bin", "").await?;
    assert_eq!(remote.list_secrets("").await?.len(), 1);

    // namespaces
    let mut ns = FunctionNamespace::new("team-b");
    ns.labels.insert("openfaas".into(), "1".into());
    remote.create_namespace(ns.clone()).await?;
    assert_eq!(remote.get_namespace("team-b").await?, ns);
    ns.annotations.insert("owner".into(), "me".into());
    remote.update_namespace(ns.clone()).await?;
    assert_eq!(remote.get_namespace("team-b").await?, ns);
    assert_eq!(remote.list_namespaces().await?, ["openfaas-fn", "team-b"]);
    remote.delete_namespace("team-b").await?;
    assert_eq!(remote.list_namespaces().await?, ["openfaas-fn"]);

    // scale to zero, delete
    remote.scale(ScaleRequest::new("echo", "", 0)).await?;
    assert!(remote.resolve("echo", "").await?.is_empty());
    let zero = remote.get("echo", "").await?;
    assert_eq!((zero.replicas, zero.available_replicas), (0, 0));
    remote.delete("echo", "").await?;
    assert!(remote.list("").await?.is_empty());
    served.stop().await
}

#[tokio::test]
async fn wait_ready_waits_across_the_wire_and_times_out() -> Result<()> {
    let memory = MemoryProvider::with_config(
        MemoryConfig::default().with_ready_delay(Duration::from_millis(100)),
    );
    let served = Served::start(Arc::new(memory)).await?;
    let remote = served.client().await?;
    let endpoints = remote.deploy_and_wait(fd("slow", "cat"), WAIT).await?;
    assert_eq!(endpoints.len(), 1);
    remote.scale(ScaleRequest::new("slow", "", 0)).await?;
    let err = expect_err(
        remote
            .wait_ready("slow", "", Duration::from_millis(50))
            .await,
    )?;
    assert_eq!(err.kind(), ErrorKind::Timeout);
    Ok(())
}

#[tokio::test]
async fn health_answers_through_the_standard_client() -> Result<()> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let served = Served::start(Arc::new(MemoryProvider::new())).await?;
    let mut client = HealthClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", served.addr))?
            .connect()
            .await?,
    );
    for service in ["", SERVICE_NAME] {
        let resp = client
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await?
            .into_inner();
        assert_eq!(
            resp.status,
            ServingStatus::Serving as i32,
            "service {service:?}"
        );
    }
    let err = client
        .check(HealthCheckRequest {
            service: "other".into(),
        })
        .await
        .err()
        .context("unknown service is healthy")?;
    assert_eq!(err.code(), tonic::Code::NotFound);

    let sick = Served::start(Arc::new(Failing(ErrorKind::Unavailable))).await?;
    let mut client = HealthClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", sick.addr))?
            .connect()
            .await?,
    );
    let resp = client
        .check(HealthCheckRequest {
            service: SERVICE_NAME.to_owned(),
        })
        .await?
        .into_inner();
    assert_eq!(resp.status, ServingStatus::NotServing as i32);
    let err = expect_err(sick.client().await?.health().await)?;
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    Ok(())
}

#[tokio::test]
async fn memory_provider_errors_keep_kind_and_field() -> Result<()> {
    let memory = MemoryProvider::new();
    let served = Served::start(Arc::new(memory)).await?;
    let remote = served.client().await?;
    remote.deploy(fd("f", "cat")).await?;

    let cases: Vec<(faas_core::Result<()>, ErrorKind, Option<&str>)> = vec![
        (
            remote.get("absent", "").await.map(drop),
            ErrorKind::NotFound,
            None,
        ),
        (
            remote.deploy(fd("f", "cat")).await,
            ErrorKind::AlreadyExists,
            None,
        ),
        (
            remote.deploy(fd("Bad", "cat")).await,
            ErrorKind::InvalidInput,
            Some("service"),
        ),
        (
            remote
                .deploy(fd("g", "cat").with_label("com.openfaas.scale.min", "x"))
                .await,
            ErrorKind::InvalidInput,
            Some("labels.com.openfaas.scale.min"),
        ),
        (
            remote.deploy(fd("g", "cat").with_secret("nope")).await,
            ErrorKind::NotFound,
            Some("secrets[0]"),
        ),
        (
            remote.scale(ScaleRequest::new("f", "", 5000)).await,
            ErrorKind::InvalidInput,
            Some("replicas"),
        ),
        (
            remote.delete_namespace("openfaas-fn").await,
            ErrorKind::Conflict,
            Some("name"),
        ),
        (
            remote.wait_ready("f", "nope", WAIT).await.map(drop),
            ErrorKind::NotFound,
            Some("namespace"),
        ),
    ];
    for (i, (result, kind, field)) in cases.into_iter().enumerate() {
        let err = expect_err(result)?;
        assert_eq!((err.kind(), err.field()), (kind, field), "case {i}: {err}");
    }

    let limited = Served::start(Arc::new(MemoryProvider::with_config(
        MemoryConfig::default().with_capabilities(Capabilities::default()),
    )))
    .await?;
    let remote = limited.client().await?;
    let err = expect_err(remote.list_secrets("").await)?;
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    Ok(())
}

#[tokio::test]
async fn every_error_kind_crosses_the_wire_from_every_method() -> Result<()> {
    for kind in ErrorKind::ALL {
        let served = Served::start(Arc::new(Failing(kind))).await?;
        let remote = served.client().await?;
        let results = all_methods(&remote).await;
        ensure!(
            results.len() == 19,
            "expected every method, got {}",
            results.len()
        );
        for (method, result) in results {
            let err = result
                .map_err(|e| anyhow!("{method}: {e}"))
                .and_then(|r| match r {
                    Ok(()) => Err(anyhow!("{method} succeeded")),
                    Err(e) => Ok(e),
                })?;
            assert_eq!(err.kind(), kind, "{method}");
            assert_eq!(err.field(), Some("some.field"), "{method}");
            assert_eq!(err.message(), format!("{method} failed"), "{method}");
        }
        served.stop().await?;
    }
    Ok(())
}

type MethodResults = Vec<(&'static str, Result<faas_core::Result<()>>)>;

/// Calls every trait method once (health excluded: it travels as a health status).
async fn all_methods(p: &RemoteProvider) -> MethodResults {
    let ok = |r: faas_core::Result<()>| Ok(r);
    vec![
        ("info", ok(p.info().await.map(drop))),
        ("deploy", ok(p.deploy(fd("f", "cat")).await)),
        ("update", ok(p.update(fd("f", "cat")).await)),
        ("delete", ok(p.delete("f", "").await)),
        ("get", ok(p.get("f", "").await.map(drop))),
        ("list", ok(p.list("").await.map(drop))),
        ("scale", ok(p.scale(ScaleRequest::new("f", "", 1)).await)),
        ("resolve", ok(p.resolve("f", "").await.map(drop))),
        (
            "wait_ready",
            ok(p.wait_ready("f", "", WAIT).await.map(drop)),
        ),
        ("logs", ok(p.logs(LogRequest::new("f", "")).await.map(drop))),
        ("list_secrets", ok(p.list_secrets("").await.map(drop))),
        (
            "create_secret",
            ok(p.create_secret(Secret::new("s", "", "v")).await),
        ),
        (
            "update_secret",
            ok(p.update_secret(Secret::new("s", "", "v")).await),
        ),
        ("delete_secret", ok(p.delete_secret("s", "").await)),
        ("list_namespaces", ok(p.list_namespaces().await.map(drop))),
        ("get_namespace", ok(p.get_namespace("n").await.map(drop))),
        (
            "create_namespace",
            ok(p.create_namespace(FunctionNamespace::new("n")).await),
        ),
        (
            "update_namespace",
            ok(p.update_namespace(FunctionNamespace::new("n")).await),
        ),
        ("delete_namespace", ok(p.delete_namespace("n").await)),
    ]
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_a_restart_reconnects() -> Result<()> {
    let memory = MemoryProvider::new();
    let served = Served::start(Arc::new(memory.clone())).await?;
    let addr = served.addr;
    let remote = served.client().await?;
    remote.deploy(fd("f", "cat")).await?;
    served.stop().await?;

    let err = expect_err(remote.get("f", "").await)?;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");

    // Same port, same state: the same client works again.
    let restarted = Served::start_on(Arc::new(memory), TcpListener::bind(addr).await?).await?;
    assert_eq!(remote.get("f", "").await?.name, "f");
    restarted.stop().await
}

#[tokio::test]
async fn bad_client_configuration_is_invalid_input() -> Result<()> {
    let err = expect_err(
        RemoteProvider::connect(RemoteConfig::new("127.0.0.1:1"))
            .await
            .map(drop),
    )?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("endpoint"))
    );
    let err = expect_err(
        RemoteProvider::connect(RemoteConfig::new("http://bad host"))
            .await
            .map(drop),
    )?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("endpoint"))
    );
    // https with a CA builds a TLS channel; nothing listens, so the call is Unavailable.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let config = RemoteConfig::new(format!("https://127.0.0.1:{port}"))
        .with_tls(grpc::TlsConfig::default().with_domain_name("provider.local"))
        .with_connect_timeout(Duration::from_secs(1));
    let remote = RemoteProvider::connect(config).await?;
    assert_eq!(
        expect_err(remote.info().await)?.kind(),
        ErrorKind::Unavailable
    );
    Ok(())
}

/// A backend whose every operation fails with one kind, naming a field: it exercises the real
/// server and client error paths for kinds `MemoryProvider` never produces.
#[derive(Debug)]
struct Failing(ErrorKind);

impl Failing {
    fn err<T>(&self, method: &str) -> faas_core::Result<T> {
        Err(Error::new(self.0, format!("{method} failed")).with_field("some.field"))
    }
}

#[async_trait]
impl Provider for Failing {
    async fn info(&self) -> faas_core::Result<ProviderInfo> {
        self.err("info")
    }
    async fn health(&self) -> faas_core::Result<()> {
        self.err("health")
    }
    async fn deploy(&self, _: FunctionDeployment) -> faas_core::Result<()> {
        self.err("deploy")
    }
    async fn update(&self, _: FunctionDeployment) -> faas_core::Result<()> {
        self.err("update")
    }
    async fn delete(&self, _: &str, _: &str) -> faas_core::Result<()> {
        self.err("delete")
    }
    async fn get(&self, _: &str, _: &str) -> faas_core::Result<FunctionStatus> {
        self.err("get")
    }
    async fn list(&self, _: &str) -> faas_core::Result<Vec<FunctionStatus>> {
        self.err("list")
    }
    async fn scale(&self, _: ScaleRequest) -> faas_core::Result<()> {
        self.err("scale")
    }
    async fn resolve(&self, _: &str, _: &str) -> faas_core::Result<Vec<Endpoint>> {
        self.err("resolve")
    }
    async fn wait_ready(&self, _: &str, _: &str, _: Duration) -> faas_core::Result<Vec<Endpoint>> {
        self.err("wait_ready")
    }
    async fn logs(&self, _: LogRequest) -> faas_core::Result<LogStream> {
        self.err("logs")
    }
    async fn list_secrets(&self, _: &str) -> faas_core::Result<Vec<SecretInfo>> {
        self.err("list_secrets")
    }
    async fn create_secret(&self, _: Secret) -> faas_core::Result<()> {
        self.err("create_secret")
    }
    async fn update_secret(&self, _: Secret) -> faas_core::Result<()> {
        self.err("update_secret")
    }
    async fn delete_secret(&self, _: &str, _: &str) -> faas_core::Result<()> {
        self.err("delete_secret")
    }
    async fn list_namespaces(&self) -> faas_core::Result<Vec<String>> {
        self.err("list_namespaces")
    }
    async fn get_namespace(&self, _: &str) -> faas_core::Result<FunctionNamespace> {
        self.err("get_namespace")
    }
    async fn create_namespace(&self, _: FunctionNamespace) -> faas_core::Result<()> {
        self.err("create_namespace")
    }
    async fn update_namespace(&self, _: FunctionNamespace) -> faas_core::Result<()> {
        self.err("update_namespace")
    }
    async fn delete_namespace(&self, _: &str) -> faas_core::Result<()> {
        self.err("delete_namespace")
    }
}
