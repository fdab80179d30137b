//! Serving any [`Provider`] over gRPC: the `faas.provider.v1.Provider` service plus the
//! standard `grpc.health.v1.Health` service.
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

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::{Router, TcpIncoming};
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

/// The tonic router serving `provider` and its health, plus the health reporter (for tests
/// and for callers that serve the router themselves).
pub fn router(provider: Arc<dyn Provider>) -> (Router, HealthReporter) {
    let reporter = HealthReporter::new();
    let health = ProviderHealth::new(provider.clone(), reporter.clone()).into_server();
    let router = Server::builder()
        .add_service(health)
        .add_service(ProviderService::new(provider).into_server());
    (router, reporter)
}

/// Serves `provider` on `addr` until the process ends.
pub async fn serve(provider: Arc<dyn Provider>, addr: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::unavailable(format!("cannot listen on {addr}")).with_source(e))?;
    serve_with_shutdown(provider, listener, std::future::pending()).await
}

/// Serves `provider` on `listener` until `shutdown` resolves.
///
/// Health is `SERVING` from the start and `NOT_SERVING` once shutdown begins. After the
/// signal, the listener closes at once and open calls get [`SHUTDOWN_GRACE`] to finish.
pub async fn serve_with_shutdown(
    provider: Arc<dyn Provider>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let addr = listener.local_addr().ok();
    let (router, reporter) = router(provider);
    set_status(&reporter, ServingStatus::Serving).await;
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        set_status(&reporter, ServingStatus::NotServing).await;
        let _ = stopping_tx.send(());
    };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tracing::info!(addr = ?addr, "serving the provider over gRPC");
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
