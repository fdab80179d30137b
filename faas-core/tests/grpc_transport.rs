//! The transport around the gRPC protocol: `MemoryProvider` served over TLS (and mutual TLS)
//! on 127.0.0.1 with certificates made at test time, clients that must be refused, and the
//! client's deadlines against a slow provider and a server that never answers.
#![cfg(feature = "grpc")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use async_trait::async_trait;
use faas_core::grpc::{self, RemoteConfig, RemoteProvider, ServerTls, TlsConfig};
use faas_core::memory::MemoryProvider;
use faas_core::{
    Endpoint, Error, ErrorKind, FunctionDeployment, FunctionNamespace, FunctionStatus, LogEntry,
    LogRequest, LogStream, Provider, ProviderInfo, ScaleRequest, Secret, SecretInfo,
};
use futures::StreamExt;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// An upper bound for anything that should happen promptly.
const WAIT: Duration = Duration::from_secs(5);
/// The name in the server certificate (not the address the client dials).
const SERVER_NAME: &str = "provider.test";

// === certificates ===

/// A CA made for one test, and what it signs.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, in PEM.
struct Leaf {
    cert_pem: String,
    key_pem: String,
}

impl Ca {
    fn new(name: &str) -> Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate()?;
        let pem = params.self_signed(&key)?.pem();
        Ok(Self {
            pem,
            issuer: Issuer::new(params, key),
        })
    }

    fn sign(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Result<Leaf> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "faas-rs test");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    fn server(&self) -> Result<Leaf> {
        self.sign(&[SERVER_NAME], ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client(&self) -> Result<Leaf> {
        self.sign(&["gateway.test"], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

// === serving ===

/// A provider served on 127.0.0.1 until stopped or dropped.
struct Served {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<faas_core::Result<()>>,
}

impl Served {
    async fn plain(provider: Arc<dyn Provider>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
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

    async fn tls(provider: Arc<dyn Provider>, tls: ServerTls) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(grpc::serve_tls_with_shutdown(
            provider,
            listener,
            tls,
            async {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
        })
    }

    async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT * 2, &mut self.task)
            .await
            .context("the server did not stop")???;
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn https(addr: SocketAddr) -> RemoteConfig {
    RemoteConfig::new(format!("https://{addr}")).with_request_timeout(WAIT)
}

fn http(addr: SocketAddr) -> RemoteConfig {
    RemoteConfig::new(format!("http://{addr}")).with_request_timeout(WAIT)
}

fn fd(name: &str) -> FunctionDeployment {
    FunctionDeployment::new(name, "ghcr.io/openfaas/alpine:latest").with_env_process("cat")
}

fn expect_err<T: std::fmt::Debug>(result: faas_core::Result<T>) -> Result<Error> {
    match result {
        Ok(v) => bail!("expected an error, got {v:?}"),
        Err(e) => Ok(e),
    }
}

/// The call fails as `Unavailable` with a message naming TLS and the certificate problem.
async fn refused(remote: &RemoteProvider, problem: &str) -> Result<Error> {
    let err = expect_err(remote.get("f", "").await)?;
    let message = err.message().to_lowercase();
    ensure!(
        err.kind() == ErrorKind::Unavailable,
        "expected Unavailable, got {:?}: {err}",
        err.kind()
    );
    ensure!(
        message.contains("tls") && message.contains(problem),
        "the message should say TLS and {problem:?}: {err}"
    );
    ensure!(err.is_retryable(), "{err}");
    Ok(err)
}

// === TLS ===

#[tokio::test]
async fn tls_round_trips_with_the_ca_and_the_server_name() -> Result<()> {
    let ca = Ca::new("faas-rs test CA")?;
    let leaf = ca.server()?;
    let memory = MemoryProvider::new();
    let served = Served::tls(
        Arc::new(memory.clone()),
        ServerTls::new(leaf.cert_pem, leaf.key_pem),
    )
    .await?;

    // A client that connects and never says hello does not hold up the others.
    let silent = TcpStream::connect(served.addr).await?;

    let remote = RemoteProvider::connect(
        https(served.addr)
            .with_tls(TlsConfig::with_ca_pem(ca.pem.as_bytes()).with_domain_name(SERVER_NAME)),
    )
    .await?;
    remote.health().await?;
    assert_eq!(remote.info().await?, memory.info().await?);
    remote.deploy(fd("echo").with_label("team", "a")).await?;
    let status = remote.get("echo", "").await?;
    assert_eq!(status, memory.get("echo", "").await?);
    assert_eq!(status.labels.get("team").map(String::as_str), Some("a"));
    assert_eq!(remote.list("").await?, vec![status]);
    let err = expect_err(remote.get("absent", "").await)?;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // All of that while the silent client's handshake was still pending.
    drop(silent);
    served.stop().await
}

#[tokio::test]
async fn tls_handshake_timeout_drops_silent_clients() -> Result<()> {
    let ca = Ca::new("faas-rs test CA")?;
    let leaf = ca.server()?;
    let served = Served::tls(
        Arc::new(MemoryProvider::new()),
        ServerTls::new(leaf.cert_pem, leaf.key_pem)
            .with_handshake_timeout(Duration::from_millis(200)),
    )
    .await?;
    let mut silent = TcpStream::connect(served.addr).await?;
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, silent.read(&mut buf))
        .await
        .context("the server kept a silent client past its handshake timeout")?;
    // Closed (0 bytes) or reset: either way the server let go, and not before the timeout.
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    served.stop().await
}

#[tokio::test]
async fn tls_refuses_untrusted_misnamed_and_plain_text() -> Result<()> {
    let ca = Ca::new("faas-rs test CA")?;
    let leaf = ca.server()?;
    let served = Served::tls(
        Arc::new(MemoryProvider::new()),
        ServerTls::new(leaf.cert_pem, leaf.key_pem),
    )
    .await?;

    // No CA: nothing trusts the test CA.
    let no_ca = RemoteProvider::connect(https(served.addr)).await?;
    refused(&no_ca, "certificate").await?;

    // Another CA.
    let other = Ca::new("another CA")?;
    let wrong_ca = RemoteProvider::connect(
        https(served.addr)
            .with_tls(TlsConfig::with_ca_pem(other.pem.as_bytes()).with_domain_name(SERVER_NAME)),
    )
    .await?;
    refused(&wrong_ca, "certificate").await?;

    // The right CA, but the certificate is for provider.test, not 127.0.0.1 or another name.
    let by_address = RemoteProvider::connect(
        https(served.addr).with_tls(TlsConfig::with_ca_pem(ca.pem.as_bytes())),
    )
    .await?;
    refused(&by_address, "certificate").await?;
    let misnamed = RemoteProvider::connect(
        https(served.addr)
            .with_tls(TlsConfig::with_ca_pem(ca.pem.as_bytes()).with_domain_name("other.test")),
    )
    .await?;
    refused(&misnamed, "certificate").await?;

    // Plain text to a TLS server fails, and it is not mistaken for an answer.
    let plain = RemoteProvider::connect(http(served.addr)).await?;
    let err = expect_err(plain.get("f", "").await)?;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");

    // The server survived all of that.
    let good = RemoteProvider::connect(
        https(served.addr)
            .with_tls(TlsConfig::with_ca_pem(ca.pem.as_bytes()).with_domain_name(SERVER_NAME)),
    )
    .await?;
    good.health().await?;
    served.stop().await
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_client_ca() -> Result<()> {
    let server_ca = Ca::new("server CA")?;
    let client_ca = Ca::new("client CA")?;
    let leaf = server_ca.server()?;
    let served = Served::tls(
        Arc::new(MemoryProvider::new()),
        ServerTls::new(leaf.cert_pem, leaf.key_pem).with_client_ca_pem(client_ca.pem.as_bytes()),
    )
    .await?;
    let trust = || TlsConfig::with_ca_pem(server_ca.pem.as_bytes()).with_domain_name(SERVER_NAME);

    let client = client_ca.client()?;
    let remote = RemoteProvider::connect(
        https(served.addr).with_tls(trust().with_client_identity(client.cert_pem, client.key_pem)),
    )
    .await?;
    remote.deploy(fd("f")).await?;
    assert_eq!(remote.get("f", "").await?.name, "f");

    let anonymous = RemoteProvider::connect(https(served.addr).with_tls(trust())).await?;
    refused(&anonymous, "certificate").await?;

    let stranger = server_ca.client()?; // signed, but not by the client CA
    let impostor = RemoteProvider::connect(
        https(served.addr)
            .with_tls(trust().with_client_identity(stranger.cert_pem, stranger.key_pem)),
    )
    .await?;
    refused(&impostor, "unknownca").await?;

    assert_eq!(remote.list("").await?.len(), 1, "the good client broke");
    served.stop().await
}

#[tokio::test]
async fn unusable_tls_settings_are_invalid_input() -> Result<()> {
    let ca = Ca::new("faas-rs test CA")?;
    let leaf = ca.server()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let serving = grpc::serve_tls_with_shutdown(
        Arc::new(MemoryProvider::new()),
        listener,
        ServerTls::new(leaf.cert_pem.clone(), "not a key"),
        std::future::pending(),
    );
    let err = expect_err(
        tokio::time::timeout(WAIT, serving)
            .await
            .context("a server with an unusable key started anyway")?,
    )?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("tls")),
        "{err}"
    );

    let err = expect_err(
        tokio::time::timeout(
            WAIT,
            grpc::serve_tls(
                Arc::new(MemoryProvider::new()),
                "127.0.0.1:0".parse()?,
                ServerTls::new("not a certificate", leaf.key_pem.clone()),
            ),
        )
        .await
        .context("a server with an unusable certificate started anyway")?,
    )?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("tls")),
        "{err}"
    );

    // TLS settings on an http:// endpoint would silently be plain text.
    let err = expect_err(
        RemoteProvider::connect(
            RemoteConfig::new("http://127.0.0.1:1")
                .with_tls(TlsConfig::with_ca_pem(ca.pem.as_bytes())),
        )
        .await
        .map(drop),
    )?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("tls")),
        "{err}"
    );

    // A client certificate without its key.
    let mut tls = TlsConfig::with_ca_pem(ca.pem.as_bytes());
    tls.client_cert_pem = Some(leaf.cert_pem.into_bytes());
    let err = expect_err(
        RemoteProvider::connect(RemoteConfig::new("https://127.0.0.1:1").with_tls(tls))
            .await
            .map(drop),
    )?;
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("tls")),
        "{err}"
    );
    Ok(())
}

#[test]
fn tls_settings_keep_keys_out_of_debug_output() -> Result<()> {
    let key = "-----BEGIN PRIVATE KEY-----\nSECRETKEYBYTES\n-----END PRIVATE KEY-----\n";
    let server = format!("{:?}", ServerTls::new("cert", key));
    let client = format!(
        "{:?}",
        TlsConfig::with_ca_pem("ca").with_client_identity("cert", key)
    );
    for shown in [&server, &client] {
        ensure!(!shown.contains("SECRETKEYBYTES"), "key in {shown}");
        ensure!(shown.contains("redacted"), "{shown}");
    }
    Ok(())
}

// === deadlines ===

/// `MemoryProvider` with slow spots: `get("slow")` takes [`Slow::delay`] (and reports when the
/// server drops the call); `logs` of `"stall"` sends one entry and then nothing, and a followed
/// `"late"` stream sends its entry after a pause longer than the client's request timeout.
#[derive(Debug, Clone)]
struct Slow {
    inner: MemoryProvider,
    delay: Duration,
    dropped: mpsc::UnboundedSender<&'static str>,
}

/// Sends on drop unless defused: tells the test the server cancelled the handler.
struct DropSignal(Option<mpsc::UnboundedSender<&'static str>>, &'static str);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(self.1);
        }
    }
}

fn entry(name: &str, text: &str) -> LogEntry {
    LogEntry {
        name: name.to_owned(),
        namespace: "openfaas-fn".to_owned(),
        instance: format!("{name}-0"),
        timestamp: chrono::Utc::now(),
        text: text.to_owned(),
    }
}

#[async_trait]
impl Provider for Slow {
    async fn info(&self) -> faas_core::Result<ProviderInfo> {
        self.inner.info().await
    }
    async fn health(&self) -> faas_core::Result<()> {
        self.inner.health().await
    }
    async fn deploy(&self, fd: FunctionDeployment) -> faas_core::Result<()> {
        self.inner.deploy(fd).await
    }
    async fn update(&self, fd: FunctionDeployment) -> faas_core::Result<()> {
        self.inner.update(fd).await
    }
    async fn delete(&self, name: &str, namespace: &str) -> faas_core::Result<()> {
        self.inner.delete(name, namespace).await
    }
    async fn get(&self, name: &str, namespace: &str) -> faas_core::Result<FunctionStatus> {
        if name == "slow" {
            let mut signal = DropSignal(Some(self.dropped.clone()), "get");
            tokio::time::sleep(self.delay).await;
            signal.0 = None;
        }
        self.inner.get(name, namespace).await
    }
    async fn list(&self, namespace: &str) -> faas_core::Result<Vec<FunctionStatus>> {
        self.inner.list(namespace).await
    }
    async fn scale(&self, request: ScaleRequest) -> faas_core::Result<()> {
        self.inner.scale(request).await
    }
    async fn resolve(&self, name: &str, namespace: &str) -> faas_core::Result<Vec<Endpoint>> {
        self.inner.resolve(name, namespace).await
    }
    async fn wait_ready(
        &self,
        name: &str,
        namespace: &str,
        timeout: Duration,
    ) -> faas_core::Result<Vec<Endpoint>> {
        self.inner.wait_ready(name, namespace, timeout).await
    }
    async fn logs(&self, request: LogRequest) -> faas_core::Result<LogStream> {
        let first = futures::stream::iter([Ok(entry(&request.name, "first"))]);
        match request.name.as_str() {
            "stall" => Ok(first.chain(futures::stream::pending()).boxed()),
            "late" => {
                let delay = self.delay;
                let late = futures::stream::once(async move {
                    tokio::time::sleep(delay).await;
                    Ok(entry("late", "late"))
                });
                Ok(first.chain(late).boxed())
            }
            _ => self.inner.logs(request).await,
        }
    }
    async fn list_secrets(&self, namespace: &str) -> faas_core::Result<Vec<SecretInfo>> {
        self.inner.list_secrets(namespace).await
    }
    async fn create_secret(&self, secret: Secret) -> faas_core::Result<()> {
        self.inner.create_secret(secret).await
    }
    async fn update_secret(&self, secret: Secret) -> faas_core::Result<()> {
        self.inner.update_secret(secret).await
    }
    async fn delete_secret(&self, name: &str, namespace: &str) -> faas_core::Result<()> {
        self.inner.delete_secret(name, namespace).await
    }
    async fn list_namespaces(&self) -> faas_core::Result<Vec<String>> {
        self.inner.list_namespaces().await
    }
    async fn get_namespace(&self, name: &str) -> faas_core::Result<FunctionNamespace> {
        self.inner.get_namespace(name).await
    }
    async fn create_namespace(&self, namespace: FunctionNamespace) -> faas_core::Result<()> {
        self.inner.create_namespace(namespace).await
    }
    async fn update_namespace(&self, namespace: FunctionNamespace) -> faas_core::Result<()> {
        self.inner.update_namespace(namespace).await
    }
    async fn delete_namespace(&self, name: &str) -> faas_core::Result<()> {
        self.inner.delete_namespace(name).await
    }
}

const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);

fn slow(delay: Duration) -> (Slow, mpsc::UnboundedReceiver<&'static str>) {
    let (dropped, rx) = mpsc::unbounded_channel();
    let provider = Slow {
        inner: MemoryProvider::new(),
        delay,
        dropped,
    };
    (provider, rx)
}

/// `result` is a `Timeout` naming `method`, which took at least the deadline and not much more.
fn timed_out<T: std::fmt::Debug>(
    result: faas_core::Result<T>,
    method: &str,
    took: Duration,
) -> Result<()> {
    let err = expect_err(result)?;
    ensure!(err.kind() == ErrorKind::Timeout, "{:?}: {err}", err.kind());
    ensure!(err.is_retryable(), "{err}");
    ensure!(err.message().contains(method), "{err}");
    ensure!(took >= REQUEST_TIMEOUT, "gave up early: {took:?}");
    ensure!(
        took < REQUEST_TIMEOUT + Duration::from_secs(2),
        "gave up late: {took:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_slow_provider_times_out_and_the_same_client_goes_on() -> Result<()> {
    // The delay is far past the deadline; the test never waits for it.
    let (provider, mut dropped) = slow(Duration::from_secs(60));
    let served = Served::plain(Arc::new(provider)).await?;
    let remote =
        RemoteProvider::connect(http(served.addr).with_request_timeout(REQUEST_TIMEOUT)).await?;
    remote.deploy(fd("slow")).await?;
    remote.deploy(fd("fast")).await?;

    let started = Instant::now();
    let result = remote.get("slow", "").await;
    timed_out(result, "get", started.elapsed())?;

    // The server got the deadline too and dropped the call instead of running it to the end.
    let what = tokio::time::timeout(WAIT, dropped.recv())
        .await
        .context("the server kept running the timed-out call")?;
    assert_eq!(what, Some("get"));

    // The same client, the same connection: fast calls still work.
    let started = Instant::now();
    assert_eq!(remote.get("fast", "").await?.name, "fast");
    assert_eq!(remote.list("").await?.len(), 2);
    assert!(
        started.elapsed() < REQUEST_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    served.stop().await
}

#[tokio::test]
async fn a_stalled_log_stream_ends_with_timeout_unless_followed() -> Result<()> {
    let (provider, _dropped) = slow(REQUEST_TIMEOUT * 2);
    let served = Served::plain(Arc::new(provider)).await?;
    let remote =
        RemoteProvider::connect(http(served.addr).with_request_timeout(REQUEST_TIMEOUT)).await?;

    let started = Instant::now();
    let items: Vec<_> = tokio::time::timeout(
        WAIT,
        remote.logs(LogRequest::new("stall", "")).await?.collect(),
    )
    .await
    .context("a stalled log stream never ended")?;
    let took = started.elapsed();
    ensure!(items.len() == 2, "{items:?}");
    assert_eq!(
        items[0].as_ref().map(|e| e.text.as_str()).ok(),
        Some("first")
    );
    let last = items.into_iter().next_back().context("no items")?;
    timed_out(last, "logs", took)?;

    // Followed streams may stay quiet for as long as they like.
    let items: Vec<_> = tokio::time::timeout(
        WAIT,
        remote
            .logs(LogRequest::new("late", "").with_follow(true))
            .await?
            .collect(),
    )
    .await
    .context("the followed stream never ended")?;
    let texts: Vec<_> = items
        .into_iter()
        .map(|e| e.map(|e| e.text))
        .collect::<faas_core::Result<_>>()?;
    assert_eq!(texts, ["first", "late"]);
    served.stop().await
}

/// A TCP server that accepts connections and never says anything.
async fn black_hole() -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            // Read and discard, so the client's writes never block; answer nothing.
            open.push(tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            }));
        }
    });
    Ok((addr, task))
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_on_the_client() -> Result<()> {
    let (addr, hole) = black_hole().await?;
    let plain = RemoteProvider::connect(http(addr).with_request_timeout(REQUEST_TIMEOUT)).await?;
    let started = Instant::now();
    let result = plain.info().await;
    timed_out(result, "info", started.elapsed())?;
    let started = Instant::now();
    let result = plain.health().await;
    timed_out(result, "health", started.elapsed())?;

    // Over TLS the handshake itself never completes.
    let tls = RemoteProvider::connect(
        https(addr)
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_tls(TlsConfig::default().with_domain_name(SERVER_NAME)),
    )
    .await?;
    let started = Instant::now();
    let result = tls.get("f", "").await;
    timed_out(result, "get", started.elapsed())?;
    hole.abort();
    Ok(())
}
