//! [`RemoteProvider`]: a [`Provider`] that forwards every call to a provider served over gRPC.
//!
//! The channel is lazy: `connect` checks the configuration and returns at once; the first
//! call opens the connection, and after the server goes away (a restart) the next call opens a
//! new one. Errors keep their kind and field across the hop; transport failures are
//! `Unavailable`, missed deadlines `Timeout`.
//!
//! ```no_run
//! use std::time::Duration;
//! use faas_core::Provider;
//! use faas_core::grpc::{RemoteConfig, RemoteProvider};
//!
//! # async fn run() -> faas_core::Result<()> {
//! let config = RemoteConfig::new("http://127.0.0.1:50051").with_request_timeout(Duration::from_secs(10));
//! let provider = RemoteProvider::connect(config).await?;
//! println!("{:?}", provider.info().await?);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tonic::Request;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint as TonicEndpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::pb::provider_client::ProviderClient;
use super::{SERVICE_NAME, convert, pb};
use crate::error::{Error, Result};
use crate::model::{
    Endpoint, FunctionDeployment, FunctionNamespace, FunctionStatus, LogEntry, LogRequest,
    ProviderInfo, ScaleRequest, Secret, SecretInfo,
};
use crate::provider::{LogStream, Provider};

/// TLS settings of a [`RemoteConfig`].
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TlsConfig {
    /// PEM of the CA certificate(s) that signed the server's certificate. Without one, only
    /// the roots enabled through tonic's features are trusted (none by default).
    pub ca_cert_pem: Option<Vec<u8>>,
    /// The name to verify the server's certificate against, when it differs from the
    /// endpoint's host.
    pub domain_name: Option<String>,
}

impl TlsConfig {
    /// TLS trusting the CA in `pem`.
    pub fn with_ca_pem(pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca_cert_pem: Some(pem.into()),
            domain_name: None,
        }
    }

    /// Verifies the server certificate against `name`.
    pub fn with_domain_name(mut self, name: impl Into<String>) -> Self {
        self.domain_name = Some(name.into());
        self
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field(
                "ca_cert_pem_bytes",
                &self.ca_cert_pem.as_ref().map(Vec::len),
            )
            .field("domain_name", &self.domain_name)
            .finish()
    }
}

/// Where and how [`RemoteProvider`] reaches a provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RemoteConfig {
    /// `http://host:port` or `https://host:port`.
    pub endpoint: String,
    /// Deadline of each call (`wait_ready` gets its own timeout plus this; followed log streams
    /// have none). Default 30 s.
    pub request_timeout: Duration,
    /// How long opening a connection may take. Default 5 s.
    pub connect_timeout: Duration,
    /// TLS; implied (with no extra CA) by an `https://` endpoint.
    pub tls: Option<TlsConfig>,
}

impl RemoteConfig {
    /// A config for `endpoint` with the default timeouts.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            tls: None,
        }
    }

    /// Sets [`RemoteConfig::request_timeout`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`RemoteConfig::connect_timeout`].
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`RemoteConfig::tls`].
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// A [`Provider`] served elsewhere, reached over gRPC.
#[derive(Debug, Clone)]
pub struct RemoteProvider {
    client: ProviderClient<Channel>,
    health: HealthClient<Channel>,
    config: RemoteConfig,
}

impl RemoteProvider {
    /// Prepares a lazy channel to `config.endpoint`. Fails only on a bad configuration
    /// (`InvalidInput` naming `endpoint` or `tls`); an unreachable server shows as
    /// `Unavailable` on the first call.
    pub async fn connect(config: RemoteConfig) -> Result<Self> {
        let https = config.endpoint.starts_with("https://");
        if !(https || config.endpoint.starts_with("http://")) {
            return Err(Error::invalid(
                "endpoint",
                format!("{:?} must start with http:// or https://", config.endpoint),
            ));
        }
        let mut endpoint = TonicEndpoint::from_shared(config.endpoint.clone())
            .map_err(|e| {
                Error::invalid(
                    "endpoint",
                    format!("{:?} is not a valid URL", config.endpoint),
                )
                .with_source(e)
            })?
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true);
        if https || config.tls.is_some() {
            let tls = config.tls.clone().unwrap_or_default();
            let mut tls_config = ClientTlsConfig::new().with_enabled_roots();
            if let Some(pem) = &tls.ca_cert_pem {
                tls_config = tls_config.ca_certificate(Certificate::from_pem(pem));
            }
            if let Some(name) = &tls.domain_name {
                tls_config = tls_config.domain_name(name.clone());
            }
            endpoint = endpoint
                .tls_config(tls_config)
                .map_err(|e| Error::invalid("tls", "invalid TLS configuration").with_source(e))?;
        }
        let channel = endpoint.connect_lazy();
        Ok(Self {
            client: ProviderClient::new(channel.clone()),
            health: HealthClient::new(channel),
            config,
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.config.request_timeout);
        request
    }

    fn client(&self) -> ProviderClient<Channel> {
        self.client.clone()
    }
}

// === impl Provider for RemoteProvider ===

#[async_trait]
impl Provider for RemoteProvider {
    async fn info(&self) -> Result<ProviderInfo> {
        let info = self.client().info(self.request(pb::InfoRequest {})).await?;
        Ok(info.into_inner().into())
    }

    async fn health(&self) -> Result<()> {
        let request = self.request(HealthCheckRequest {
            service: SERVICE_NAME.to_owned(),
        });
        let response = self.health.clone().check(request).await?.into_inner();
        if response.status == ServingStatus::Serving as i32 {
            Ok(())
        } else {
            Err(Error::unavailable(format!(
                "remote provider at {} is not serving",
                self.config.endpoint
            )))
        }
    }

    async fn deploy(&self, deployment: FunctionDeployment) -> Result<()> {
        let request = self.request(pb::DeployRequest {
            deployment: Some(deployment.into()),
        });
        self.client().deploy(request).await?;
        Ok(())
    }

    async fn update(&self, deployment: FunctionDeployment) -> Result<()> {
        let request = self.request(pb::UpdateRequest {
            deployment: Some(deployment.into()),
        });
        self.client().update(request).await?;
        Ok(())
    }

    async fn delete(&self, name: &str, namespace: &str) -> Result<()> {
        let request = self.request(pb::DeleteRequest {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        });
        self.client().delete(request).await?;
        Ok(())
    }

    async fn get(&self, name: &str, namespace: &str) -> Result<FunctionStatus> {
        let request = self.request(pb::GetRequest {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        });
        let response = self.client().get(request).await?.into_inner();
        let status = response.function.ok_or_else(|| {
            Error::internal("the server sent no function status").with_field("function")
        })?;
        status.try_into()
    }

    async fn list(&self, namespace: &str) -> Result<Vec<FunctionStatus>> {
        let request = self.request(pb::ListRequest {
            namespace: namespace.to_owned(),
        });
        let response = self.client().list(request).await?.into_inner();
        response
            .functions
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn scale(&self, request: ScaleRequest) -> Result<()> {
        let request = self.request(pb::ScaleRequest {
            service_name: request.service_name,
            namespace: request.namespace,
            replicas: request.replicas,
        });
        self.client().scale(request).await?;
        Ok(())
    }

    async fn resolve(&self, name: &str, namespace: &str) -> Result<Vec<Endpoint>> {
        let request = self.request(pb::ResolveRequest {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        });
        convert::endpoints(self.client().resolve(request).await?.into_inner().endpoints)
    }

    async fn wait_ready(
        &self,
        name: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<Vec<Endpoint>> {
        let mut request = Request::new(pb::WaitReadyRequest {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            timeout: Some(convert::proto_duration(timeout)),
        });
        // The server answers Timeout itself at `timeout`; the deadline leaves room for that.
        request.set_timeout(timeout.saturating_add(self.config.request_timeout));
        convert::endpoints(
            self.client()
                .wait_ready(request)
                .await?
                .into_inner()
                .endpoints,
        )
    }

    async fn logs(&self, request: LogRequest) -> Result<LogStream> {
        let follow = request.follow;
        let mut request = Request::new(pb::LogsRequest::from(request));
        if !follow {
            request.set_timeout(self.config.request_timeout);
        }
        let stream = self.client().logs(request).await?.into_inner();
        Ok(stream
            .map(|item| match item {
                Ok(entry) => LogEntry::try_from(entry),
                Err(status) => Err(Error::from(status)),
            })
            .boxed())
    }

    async fn list_secrets(&self, namespace: &str) -> Result<Vec<SecretInfo>> {
        let request = self.request(pb::ListSecretsRequest {
            namespace: namespace.to_owned(),
        });
        let response = self.client().list_secrets(request).await?.into_inner();
        Ok(response.secrets.into_iter().map(Into::into).collect())
    }

    async fn create_secret(&self, secret: Secret) -> Result<()> {
        let request = self.request(pb::CreateSecretRequest {
            secret: Some(secret.into()),
        });
        self.client().create_secret(request).await?;
        Ok(())
    }

    async fn update_secret(&self, secret: Secret) -> Result<()> {
        let request = self.request(pb::UpdateSecretRequest {
            secret: Some(secret.into()),
        });
        self.client().update_secret(request).await?;
        Ok(())
    }

    async fn delete_secret(&self, name: &str, namespace: &str) -> Result<()> {
        let request = self.request(pb::DeleteSecretRequest {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        });
        self.client().delete_secret(request).await?;
        Ok(())
    }

    async fn list_namespaces(&self) -> Result<Vec<String>> {
        let response = self
            .client()
            .list_namespaces(self.request(pb::ListNamespacesRequest {}))
            .await?;
        Ok(response.into_inner().namespaces)
    }

    async fn get_namespace(&self, name: &str) -> Result<FunctionNamespace> {
        let request = self.request(pb::GetNamespaceRequest {
            name: name.to_owned(),
        });
        Ok(self
            .client()
            .get_namespace(request)
            .await?
            .into_inner()
            .into())
    }

    async fn create_namespace(&self, namespace: FunctionNamespace) -> Result<()> {
        let request = self.request(pb::CreateNamespaceRequest {
            namespace: Some(namespace.into()),
        });
        self.client().create_namespace(request).await?;
        Ok(())
    }

    async fn update_namespace(&self, namespace: FunctionNamespace) -> Result<()> {
        let request = self.request(pb::UpdateNamespaceRequest {
            namespace: Some(namespace.into()),
        });
        self.client().update_namespace(request).await?;
        Ok(())
    }

    async fn delete_namespace(&self, name: &str) -> Result<()> {
        let request = self.request(pb::DeleteNamespaceRequest {
            name: name.to_owned(),
        });
        self.client().delete_namespace(request).await?;
        Ok(())
    }
}
