//! [`RemoteProvider`]: a [`Provider`] that forwards every call to a provider served over gRPC.
//!
//! The channel is lazy: `connect` checks the configuration and returns at once; the first
//! call opens the connection, and after the server goes away (a restart) the next call opens a
//! new one. Errors keep their kind and field across the hop; transport failures (including a
//! failed TLS handshake) are `Unavailable`, missed deadlines `Timeout`. TLS is set with
//! [`RemoteConfig::with_tls`] on an `https://` endpoint; see the [module docs](super) for an
//! example.
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
use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint as TonicEndpoint, Identity,
};
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::pb::provider_client::ProviderClient;
use super::status::{KIND_METADATA, from_status};
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
    /// PEM of this client's certificate, for a server that requires client certificates
    /// (mutual TLS, [`ServerTls::client_ca_pem`](super::ServerTls::client_ca_pem)). Set
    /// together with [`TlsConfig::client_key_pem`].
    pub client_cert_pem: Option<Vec<u8>>,
    /// PEM of the private key of [`TlsConfig::client_cert_pem`].
    pub client_key_pem: Option<Vec<u8>>,
}

impl TlsConfig {
    /// TLS trusting the CA in `pem`.
    pub fn with_ca_pem(pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca_cert_pem: Some(pem.into()),
            ..Self::default()
        }
    }

    /// Verifies the server certificate against `name`.
    pub fn with_domain_name(mut self, name: impl Into<String>) -> Self {
        self.domain_name = Some(name.into());
        self
    }

    /// Presents the certificate in `cert_pem` (with its key in `key_pem`) to the server
    /// (mutual TLS).
    pub fn with_client_identity(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_cert_pem = Some(cert_pem.into());
        self.client_key_pem = Some(key_pem.into());
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
            .field(
                "client_cert_pem_bytes",
                &self.client_cert_pem.as_ref().map(Vec::len),
            )
            .field(
                "client_key_pem",
                &self.client_key_pem.as_ref().map(|_| "<redacted>"),
            )
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
        if config.tls.is_some() && !https {
            // tonic would silently speak plain text to an http:// endpoint.
            return Err(Error::invalid(
                "tls",
                format!(
                    "TLS is configured but {:?} is not an https:// endpoint",
                    config.endpoint
                ),
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
        if https {
            endpoint = endpoint
                .tls_config(client_tls(config.tls.as_ref())?)
                .map_err(|e| {
                    let detail = std::error::Error::source(&e)
                        .map_or_else(|| e.to_string(), ToString::to_string);
                    Error::invalid("tls", format!("invalid TLS configuration: {detail}"))
                        .with_source(e)
                })?;
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

    /// Runs one call with the request deadline (see [`RemoteProvider::call_within`]).
    async fn call<T>(
        &self,
        method: &'static str,
        call: impl Future<Output = std::result::Result<Response<T>, Status>>,
    ) -> Result<T> {
        self.call_within(method, Some(self.config.request_timeout), call)
            .await
    }

    /// Runs one call, enforcing `deadline` on the client as well (the server is told through
    /// `grpc-timeout` and stops at the same deadline, but a hung server or a handshake that
    /// never completes must not hang the caller), and classifies the failure.
    async fn call_within<T>(
        &self,
        method: &'static str,
        deadline: Option<Duration>,
        call: impl Future<Output = std::result::Result<Response<T>, Status>>,
    ) -> Result<T> {
        let started = Instant::now();
        let result = match deadline {
            Some(deadline) => match tokio::time::timeout(deadline, call).await {
                Ok(result) => result,
                Err(_) => return Err(self.deadline_passed(method, deadline)),
            },
            None => call.await,
        };
        result
            .map(Response::into_inner)
            .map_err(|status| self.error(method, &status, started, deadline))
    }

    fn deadline_passed(&self, method: &str, deadline: Duration) -> Error {
        Error::timeout(format!(
            "{method}: the provider at {} did not answer within {deadline:?}",
            self.config.endpoint
        ))
    }

    /// The error a failed call stands for. A status from the provider (it carries
    /// [`KIND_METADATA`]) keeps its kind, message and field. Others come from the transport:
    /// a missed deadline, which tonic reports as `CANCELLED`, is `Timeout`; a connection that
    /// could not be made (refused, TLS handshake or certificate rejected) is `Unavailable`,
    /// with the endpoint in the message.
    fn error(
        &self,
        method: &str,
        status: &Status,
        started: Instant,
        deadline: Option<Duration>,
    ) -> Error {
        if status.metadata().contains_key(KIND_METADATA) {
            return from_status(status);
        }
        if matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded)
            && let Some(deadline) = deadline
            && started.elapsed() >= deadline
        {
            return self.deadline_passed(method, deadline);
        }
        let cause = match status.code() {
            Code::Unavailable => Some(status.message().to_owned()),
            // The connection broke after the handshake (for example, a TLS server refusing the
            // client's certificate, or plain text sent to a TLS server): tonic says `UNKNOWN`.
            _ => io_cause(status),
        };
        match cause {
            Some(cause) => {
                let over = if self.config.endpoint.starts_with("https://") {
                    " over TLS"
                } else {
                    ""
                };
                Error::unavailable(format!(
                    "{method}: cannot reach the provider at {}{over}: {cause}",
                    self.config.endpoint
                ))
            }
            None => from_status(status),
        }
    }
}

/// The innermost message of `status`'s source chain when an I/O error is in it (the
/// connection failed), else `None`.
fn io_cause(status: &Status) -> Option<String> {
    let mut source = std::error::Error::source(status);
    let mut io = false;
    let mut innermost = None;
    while let Some(err) = source {
        io |= err.is::<std::io::Error>();
        innermost = Some(err);
        source = err.source();
    }
    innermost.filter(|_| io).map(ToString::to_string)
}

/// The tonic TLS settings for `tls` (no extra CA when `None`).
fn client_tls(tls: Option<&TlsConfig>) -> Result<ClientTlsConfig> {
    let mut config = ClientTlsConfig::new().with_enabled_roots();
    let Some(tls) = tls else {
        return Ok(config);
    };
    if let Some(pem) = &tls.ca_cert_pem {
        config = config.ca_certificate(Certificate::from_pem(pem));
    }
    if let Some(name) = &tls.domain_name {
        config = config.domain_name(name.clone());
    }
    match (&tls.client_cert_pem, &tls.client_key_pem) {
        (Some(cert), Some(key)) => config = config.identity(Identity::from_pem(cert, key)),
        (None, None) => {}
        _ => {
            return Err(Error::invalid(
                "tls",
                "a client certificate needs its key, and a key its certificate",
            ));
        }
    }
    Ok(config)
}

// === impl Provider for RemoteProvider ===

#[async_trait]
impl Provider for RemoteProvider {
    async fn info(&self) -> Result<ProviderInfo> {
        let request = self.request(pb::InfoRequest {});
        Ok(self.call("info", self.client().info(request)).await?.into())
    }

    async fn health(&self) -> Result<()> {
        let request = self.request(HealthCheckRequest {
            service: SERVICE_NAME.to_owned(),
        });
        let response = self
            .call("health", self.health.clone().check(request))
            .await?;
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
        self.call("deploy", self.client().deploy(request)).await?;
        Ok(())
    }

    async fn update(&self, deployment: FunctionDeployment) -> Result<()> {
        let request = self.request(pb::UpdateRequest {
            deployment: Some(deployment.into()),
        });
        self.call("update", self.client().update(request)).await?;
        Ok(())
    }

    async fn delete(&self, name: &str, namespace: &str) -> Result<()> {
        let request = self.request(pb::DeleteRequest {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        });
        self.call("delete", self.client().delete(request)).await?;
        Ok(())
    }

    async fn get(&self, name: &str, namespace: &str) -> Result<FunctionStatus> {
        let request = self.request(pb::GetRequest {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        });
        let response = self.call("get", self.client().get(request)).await?;
        let status = response.function.ok_or_else(|| {
            Error::internal("the server sent no function status").with_field("function")
        })?;
        status.try_into()
    }

    async fn list(&self, namespace: &str) -> Result<Vec<FunctionStatus>> {
        let request = self.request(pb::ListRequest {
            namespace: namespace.to_owned(),
        });
        let response = self.call("list", self.client().list(request)).await?;
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
        self.call("scale", self.client().scale(request)).await?;
        Ok(())
    }

    async fn resolve(&self, name: &str, namespace: &str) -> Result<Vec<Endpoint>> {
        let request = self.request(pb::ResolveRequest {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        });
        let response = self.call("resolve", self.client().resolve(request)).await?;
        convert::endpoints(response.endpoints)
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
        let deadline = timeout.saturating_add(self.config.request_timeout);
        request.set_timeout(deadline);
        let response = self
            .call_within(
                "wait_ready",
                Some(deadline),
                self.client().wait_ready(request),
            )
            .await?;
        convert::endpoints(response.endpoints)
    }

    async fn logs(&self, request: LogRequest) -> Result<LogStream> {
        let follow = request.follow;
        let mut request = Request::new(pb::LogsRequest::from(request));
        // A followed stream stays open as long as the caller reads it: no deadline. Otherwise
        // the stream must open, and each entry arrive, within the request timeout.
        let deadline = (!follow).then_some(self.config.request_timeout);
        if let Some(deadline) = deadline {
            request.set_timeout(deadline);
        }
        let stream = self
            .call_within("logs", deadline, self.client().logs(request))
            .await?;
        let this = self.clone();
        let entries = stream.map(move |item| match item {
            Ok(entry) => LogEntry::try_from(entry),
            Err(status) => Err(this.error("logs", &status, Instant::now(), None)),
        });
        Ok(match deadline {
            None => entries.boxed(),
            Some(deadline) => {
                let timeout = self.deadline_passed("logs", deadline);
                idle_timeout(entries, deadline, timeout).boxed()
            }
        })
    }

    async fn list_secrets(&self, namespace: &str) -> Result<Vec<SecretInfo>> {
        let request = self.request(pb::ListSecretsRequest {
            namespace: namespace.to_owned(),
        });
        let response = self
            .call("list_secrets", self.client().list_secrets(request))
            .await?;
        Ok(response.secrets.into_iter().map(Into::into).collect())
    }

    async fn create_secret(&self, secret: Secret) -> Result<()> {
        let request = self.request(pb::CreateSecretRequest {
            secret: Some(secret.into()),
        });
        self.call("create_secret", self.client().create_secret(request))
            .await?;
        Ok(())
    }

    async fn update_secret(&self, secret: Secret) -> Result<()> {
        let request = self.request(pb::UpdateSecretRequest {
            secret: Some(secret.into()),
        });
        self.call("update_secret", self.client().update_secret(request))
            .await?;
        Ok(())
    }

    async fn delete_secret(&self, name: &str, namespace: &str) -> Result<()> {
        let request = self.request(pb::DeleteSecretRequest {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        });
        self.call("delete_secret", self.client().delete_secret(request))
            .await?;
        Ok(())
    }

    async fn list_namespaces(&self) -> Result<Vec<String>> {
        let request = self.request(pb::ListNamespacesRequest {});
        let response = self
            .call("list_namespaces", self.client().list_namespaces(request))
            .await?;
        Ok(response.namespaces)
    }

    async fn get_namespace(&self, name: &str) -> Result<FunctionNamespace> {
        let request = self.request(pb::GetNamespaceRequest {
            name: name.to_owned(),
        });
        Ok(self
            .call("get_namespace", self.client().get_namespace(request))
            .await?
            .into())
    }

    async fn create_namespace(&self, namespace: FunctionNamespace) -> Result<()> {
        let request = self.request(pb::CreateNamespaceRequest {
            namespace: Some(namespace.into()),
        });
        self.call("create_namespace", self.client().create_namespace(request))
            .await?;
        Ok(())
    }

    async fn update_namespace(&self, namespace: FunctionNamespace) -> Result<()> {
        let request = self.request(pb::UpdateNamespaceRequest {
            namespace: Some(namespace.into()),
        });
        self.call("update_namespace", self.client().update_namespace(request))
            .await?;
        Ok(())
    }

    async fn delete_namespace(&self, name: &str) -> Result<()> {
        let request = self.request(pb::DeleteNamespaceRequest {
            name: name.to_owned(),
        });
        self.call("delete_namespace", self.client().delete_namespace(request))
            .await?;
        Ok(())
    }
}

/// `entries`, ending with `timeout` as its last item when the next entry takes longer than
/// `idle` to arrive.
fn idle_timeout(
    entries: impl Stream<Item = Result<LogEntry>> + Send + Unpin + 'static,
    idle: Duration,
    timeout: Error,
) -> impl Stream<Item = Result<LogEntry>> + Send + 'static {
    futures::stream::unfold(Some((entries, timeout)), move |state| async move {
        let (mut entries, timeout) = state?;
        match tokio::time::timeout(idle, entries.next()).await {
            Ok(Some(item)) => Some((item, Some((entries, timeout)))),
            Ok(None) => None,
            Err(_) => Some((Err(timeout), None)),
        }
    })
}
