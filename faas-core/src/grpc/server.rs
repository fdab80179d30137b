//! Serving any [`Provider`] over gRPC: the `faas.provider.v1.Provider` service plus the
//! standard `grpc.health.v1.Health` service, in plain text ([`serve`],
//! [`serve_with_shutdown`]) or over TLS ([`serve_tls`], [`serve_tls_with_shutdown`] with a
//! [`ServerTls`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use faas_core::memory::MemoryProvider;
//!
//! # async fn run() -> faas_core::Result<()> {
//! let addr = "127.0.0.1:50051".parse().map_err(|_| faas_core::Error::invalid("addr", "bad address"))?;
//! faas_core::grpc::serve(Arc::new(MemoryProvider::new()), addr).await
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::net::TcpListener;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService};

use super::SERVICE_NAME;
use super::convert;
use super::pb;
use super::pb::provider_server::{Provider as ProviderRpc, ProviderServer};
use crate::error::{Error, Result};
use crate::model::{LogRequest, ScaleRequest};
use crate::provider::Provider;

/// How long [`serve_with_shutdown`] lets open calls (e.g. followed log streams) finish after
/// the shutdown signal before it returns anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The `faas.provider.v1.Provider` service implemented by a [`Provider`].
#[derive(Debug, Clone)]
pub struct ProviderService {
    provider: Arc<dyn Provider>,
}

impl ProviderService {
    /// Serves `provider`.
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        Self { provider }
    }

    /// The tonic service, ready for `Server::builder().add_service(..)`.
    pub fn into_server(self) -> ProviderServer<Self> {
        ProviderServer::new(self)
    }
}

type RpcResult<T> = std::result::Result<Response<T>, Status>;

fn ok<T>(value: T) -> RpcResult<T> {
    Ok(Response::new(value))
}

#[tonic::async_trait]
impl ProviderRpc for ProviderService {
    async fn info(&self, _: Request<pb::InfoRequest>) -> RpcResult<pb::ProviderInfo> {
        ok(self.provider.info().await?.into())
    }

    async fn deploy(&self, req: Request<pb::DeployRequest>) -> RpcResult<pb::DeployResponse> {
        self.provider
            .deploy(convert::deployment(req.into_inner().deployment)?)
            .await?;
        ok(pb::DeployResponse {})
    }

    async fn update(&self, req: Request<pb::UpdateRequest>) -> RpcResult<pb::UpdateResponse> {
        self.provider
            .update(convert::deployment(req.into_inner().deployment)?)
            .await?;
        ok(pb::UpdateResponse {})
    }

    async fn delete(&self, req: Request<pb::DeleteRequest>) -> RpcResult<pb::DeleteResponse> {
        let req = req.into_inner();
        self.provider.delete(&req.name, &req.namespace).await?;
        ok(pb::DeleteResponse {})
    }

    async fn get(&self, req: Request<pb::GetRequest>) -> RpcResult<pb::GetResponse> {
        let req = req.into_inner();
        let status = self.provider.get(&req.name, &req.namespace).await?;
        ok(pb::GetResponse {
            function: Some(status.into()),
        })
    }

    async fn list(&self, req: Request<pb::ListRequest>) -> RpcResult<pb::ListResponse> {
        let list = self.provider.list(&req.into_inner().namespace).await?;
        ok(pb::ListResponse {
            functions: list.into_iter().map(Into::into).collect(),
        })
    }

    async fn scale(&self, req: Request<pb::ScaleRequest>) -> RpcResult<pb::ScaleResponse> {
        let req = req.into_inner();
        self.provider
            .scale(ScaleRequest::new(
                req.service_name,
                req.namespace,
                req.replicas,
            ))
            .await?;
        ok(pb::ScaleResponse {})
    }

    async fn resolve(&self, req: Request<pb::ResolveRequest>) -> RpcResult<pb::ResolveResponse> {
        let req = req.into_inner();
        let endpoints = self.provider.resolve(&req.name, &req.namespace).await?;
        ok(pb::ResolveResponse {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
        })
    }

    async fn wait_ready(
        &self,
        req: Request<pb::WaitReadyRequest>,
    ) -> RpcResult<pb::WaitReadyResponse> {
        let req = req.into_inner();
        let timeout = req
            .timeout
            .ok_or_else(|| Error::invalid("timeout", "is required"))?;
        let timeout = convert::duration("timeout", timeout)?;
        let endpoints = self
            .provider
            .wait_ready(&req.name, &req.namespace, timeout)
            .await?;
        ok(pb::WaitReadyResponse {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
        })
    }

    type LogsStream = BoxStream<'static, std::result::Result<pb::LogEntry, Status>>;

    async fn logs(&self, req: Request<pb::LogsRequest>) -> RpcResult<Self::LogsStream> {
        let request = LogRequest::try_from(req.into_inner())?;
        let stream = self.provider.logs(request).await?;
        ok(stream
            .map(|item| item.map(Into::into).map_err(Status::from))
            .boxed())
    }

    async fn list_secrets(
        &self,
        req: Request<pb::ListSecretsRequest>,
    ) -> RpcResult<pb::ListSecretsResponse> {
        let secrets = self
            .provider
            .list_secrets(&req.into_inner().namespace)
            .await?;
        ok(pb::ListSecretsResponse {
            secrets: secrets.into_iter().map(Into::into).collect(),
        })
    }

    async fn create_secret(
        &self,
        req: Request<pb::CreateSecretRequest>,
    ) -> RpcResult<pb::CreateSecretResponse> {
        self.provider
            .create_secret(convert::secret(req.into_inner().secret)?)
            .await?;
        ok(pb::CreateSecretResponse {})
    }

    async fn update_secret(
        &self,
        req: Request<pb::UpdateSecretRequest>,
    ) -> RpcResult<pb::UpdateSecretResponse> {
        self.provider
            .update_secret(convert::secret(req.into_inner().secret)?)
            .await?;
        ok(pb::UpdateSecretResponse {})
    }

    async fn delete_secret(
        &self,
        req: Request<pb::DeleteSecretRequest>,
    ) -> RpcResult<pb::DeleteSecretResponse> {
        let req = req.into_inner();
        self.provider
            .delete_secret(&req.name, &req.namespace)
            .await?;
        ok(pb::DeleteSecretResponse {})
    }

    async fn list_namespaces(
        &self,
        _: Request<pb::ListNamespacesRequest>,
    ) -> RpcResult<pb::ListNamespacesResponse> {
        ok(pb::ListNamespacesResponse {
            namespaces: self.provider.list_namespaces().await?,
        })
    }

    async fn get_namespace(
        &self,
        req: Request<pb::GetNamespaceRequest>,
    ) -> RpcResult<pb::Namespace> {
        ok(self
            .provider
            .get_namespace(&req.into_inner().name)
            .await?
            .into())
    }

    async fn create_namespace(
        &self,
        req: Request<pb::CreateNamespaceRequest>,
    ) -> RpcResult<pb::CreateNamespaceResponse> {
        self.provider
            .create_namespace(convert::namespace(req.into_inner().namespace)?)
            .await?;
        ok(pb::CreateNamespaceResponse {})
    }

    async fn update_namespace(
        &self,
        req: Request<pb::UpdateNamespaceRequest>,
    ) -> RpcResult<pb::UpdateNamespaceResponse> {
        self.provider
            .update_namespace(convert::namespace(req.into_inner().namespace)?)
            .await?;
        ok(pb::UpdateNamespaceResponse {})
    }

    async fn delete_namespace(
        &self,
        req: Request<pb::DeleteNamespaceRequest>,
    ) -> RpcResult<pb::DeleteNamespaceResponse> {
        self.provider
            .delete_namespace(&req.into_inner().name)
            .await?;
        ok(pb::DeleteNamespaceResponse {})
    }
}

// === health ===

/// `grpc.health.v1.Health` backed by [`Provider::health`]: checking `""` or
/// [`SERVICE_NAME`] asks the provider, records the answer (so watchers see changes) and
/// returns `SERVING` or `NOT_SERVING`.
#[derive(Debug)]
pub struct ProviderHealth {
    provider: Arc<dyn Provider>,
    reporter: HealthReporter,
    inner: HealthService,
}

impl ProviderHealth {
    /// Health of `provider`, recorded in `reporter`.
    pub fn new(provider: Arc<dyn Provider>, reporter: HealthReporter) -> Self {
        let inner = HealthService::from_health_reporter(reporter.clone());
        Self {
            provider,
            reporter,
            inner,
        }
    }

    /// The tonic service, ready for `Server::builder().add_service(..)`.
    pub fn into_server(self) -> HealthServer<Self> {
        HealthServer::new(self)
    }

    async fn refresh(&self, service: &str) {
        if !(service.is_empty() || service == SERVICE_NAME) {
            return;
        }
        let status = match self.provider.health().await {
            Ok(()) => ServingStatus::Serving,
            Err(e) => {
                tracing::warn!(error = %e, "provider reports unhealthy");
                ServingStatus::NotServing
            }
        };
        set_status(&self.reporter, status).await;
    }
}

async fn set_status(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter.set_service_status(SERVICE_NAME, status).await;
}

#[tonic::async_trait]
impl Health for ProviderHealth {
    async fn check(&self, req: Request<HealthCheckRequest>) -> RpcResult<HealthCheckResponse> {
        self.refresh(&req.get_ref().service).await;
        self.inner.check(req).await
    }

    type WatchStream = <HealthService as Health>::WatchStream;

    async fn watch(&self, req: Request<HealthCheckRequest>) -> RpcResult<Self::WatchStream> {
        self.refresh(&req.get_ref().service).await;
        self.inner.watch(req).await
    }
}

// === serving ===

/// How long a client gets to finish the TLS handshake before [`ServerTls`] drops the
/// connection (default of [`ServerTls::handshake_timeout`]).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS for a served provider: the server's certificate chain and private key (PEM), and
/// optionally a CA that every client certificate must chain to (mutual TLS).
///
/// The crypto provider is rustls with aws-lc-rs, the one the whole build uses. Clients connect
/// with an `https://` [`RemoteConfig`](super::RemoteConfig) whose
/// [`TlsConfig`](super::TlsConfig) trusts the CA that signed `cert_chain_pem`.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerTls {
    /// PEM of the server certificate, followed by any intermediates.
    pub cert_chain_pem: Vec<u8>,
    /// PEM of the private key of the certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
    /// PEM of the CA that client certificates must chain to. With one set, clients without a
    /// valid certificate cannot connect; without one, any client can.
    pub client_ca_pem: Option<Vec<u8>>,
    /// How long a client may take to complete the handshake. Default
    /// [`TLS_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
}

impl ServerTls {
    /// TLS with the certificate chain and key in `cert_chain_pem` and `key_pem`.
    pub fn new(cert_chain_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            cert_chain_pem: cert_chain_pem.into(),
            key_pem: key_pem.into(),
            client_ca_pem: None,
            handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
        }
    }

    /// Requires client certificates signed by the CA in `pem` (mutual TLS).
    pub fn with_client_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.client_ca_pem = Some(pem.into());
        self
    }

    /// Sets [`ServerTls::handshake_timeout`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// A tonic server builder with this TLS, or `InvalidInput` naming `tls` when the
    /// certificate or key cannot be used.
    fn builder(&self) -> Result<Server> {
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_chain_pem, &self.key_pem))
            .timeout(self.handshake_timeout);
        if let Some(ca) = &self.client_ca_pem {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        Server::builder().tls_config(config).map_err(|e| {
            let detail =
                std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
            Error::invalid(
                "tls",
                format!("the server certificate, key or client CA cannot be used: {detail}"),
            )
            .with_source(e)
        })
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("ServerTls")
            .field("cert_chain_pem_bytes", &self.cert_chain_pem.len())
            .field("key_pem", &"<redacted>")
            .field(
                "client_ca_pem_bytes",
                &self.client_ca_pem.as_ref().map(Vec::len),
            )
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

/// The tonic router serving `provider` and its health, plus the health reporter (for tests
/// and for callers that serve the router themselves). Plain text; see [`serve_tls`] for TLS.
pub fn router(provider: Arc<dyn Provider>) -> (Router, HealthReporter) {
    router_on(Server::builder(), provider)
}

fn router_on(mut builder: Server, provider: Arc<dyn Provider>) -> (Router, HealthReporter) {
    let reporter = HealthReporter::new();
    let health = ProviderHealth::new(provider.clone(), reporter.clone()).into_server();
    let router = builder
        .add_service(health)
        .add_service(ProviderService::new(provider).into_server());
    (router, reporter)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::unavailable(format!("cannot listen on {addr}")).with_source(e))
}

/// Serves `provider` on `addr`, in plain text, until the process ends.
pub async fn serve(provider: Arc<dyn Provider>, addr: SocketAddr) -> Result<()> {
    serve_with_shutdown(provider, bind(addr).await?, std::future::pending()).await
}

/// Serves `provider` on `listener`, in plain text, until `shutdown` resolves.
///
/// Health is `SERVING` from the start and `NOT_SERVING` once shutdown begins. After the
/// signal, the listener closes at once and open calls get [`SHUTDOWN_GRACE`] to finish.
pub async fn serve_with_shutdown(
    provider: Arc<dyn Provider>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    serve_router(router(provider), listener, shutdown, false).await
}

/// Serves `provider` on `addr` over TLS until the process ends.
///
/// Fails at once with `InvalidInput` naming `tls` when the certificate or key cannot be used,
/// before anything listens.
///
/// ```no_run
/// use std::sync::Arc;
/// use faas_core::grpc::ServerTls;
/// use faas_core::memory::MemoryProvider;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = ServerTls::new(std::fs::read("tls/server.crt")?, std::fs::read("tls/server.key")?);
/// let addr = "0.0.0.0:50051".parse()?;
/// faas_core::grpc::serve_tls(Arc::new(MemoryProvider::new()), addr, tls).await?;
/// # Ok(())
/// # }
/// ```
pub async fn serve_tls(
    provider: Arc<dyn Provider>,
    addr: SocketAddr,
    tls: ServerTls,
) -> Result<()> {
    let builder = tls.builder()?;
    let listener = bind(addr).await?;
    serve_router(
        router_on(builder, provider),
        listener,
        std::future::pending(),
        true,
    )
    .await
}

/// Serves `provider` on `listener` over TLS until `shutdown` resolves; otherwise as
/// [`serve_with_shutdown`].
///
/// Fails at once with `InvalidInput` naming `tls` when the certificate or key cannot be used.
/// A client that fails the handshake (untrusted, wrong name, no client certificate when
/// [`ServerTls::client_ca_pem`] is set, or plain text) is dropped without affecting others.
pub async fn serve_tls_with_shutdown(
    provider: Arc<dyn Provider>,
    listener: TcpListener,
    tls: ServerTls,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let builder = tls.builder()?;
    serve_router(router_on(builder, provider), listener, shutdown, true).await
}

async fn serve_router(
    (router, reporter): (Router, HealthReporter),
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    tls: bool,
) -> Result<()> {
    let addr = listener.local_addr().ok();
    set_status(&reporter, ServingStatus::Serving).await;
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        set_status(&reporter, ServingStatus::NotServing).await;
        let _ = stopping_tx.send(());
    };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tracing::info!(addr = ?addr, tls, "serving the provider over gRPC");
    let server = router.serve_with_incoming_shutdown(incoming, signal);
    tokio::pin!(server);
    let grace = async {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = &mut server => result.map_err(|e| Error::unavailable("gRPC server failed").with_source(e)),
        () = grace => {
            tracing::warn!("gRPC calls still open after the shutdown grace period; stopping anyway");
            Ok(())
        }
    }
}
