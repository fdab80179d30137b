//! The core of an OpenFaaS-compatible serverless platform: the domain model, the
//! [`Provider`] trait every backend implements, the one [`Error`] type, input validation, an
//! in-memory reference provider and the gRPC protocol that lets a provider run out of process.
//!
//! The gateway holds an `Arc<dyn Provider>` chosen at runtime (local processes, Docker Swarm,
//! Kubernetes, Nomad, or [`grpc::RemoteProvider`]) and never knows which one it is. JSON
//! field names follow OpenFaaS exactly, so faas-cli and existing functions keep working.
//!
//! # Layout
//! - [`model`]: `FunctionDeployment`, `FunctionStatus`, `Secret`, `LogRequest`/`LogEntry`,
//!   `ProviderInfo` and `Capabilities`, `Endpoint`; serde with OpenFaaS names and `omitempty`.
//! - [`provider`]: the [`Provider`] trait and its `# Contract`, [`ProviderExt`] conveniences,
//!   [`DynProvider`], [`LogStream`].
//! - [`error`]: [`Error`] and [`ErrorKind`], with the HTTP status table
//!   (`docs/adr/0002-error-model.md`).
//! - [`validate`]: the checks every provider runs on its input; failures are `InvalidInput`
//!   naming the field.
//! - [`memory`]: [`memory::MemoryProvider`], a complete in-process provider whose functions
//!   answer HTTP on 127.0.0.1 (for tests and examples).
//! - `grpc` (feature `grpc`): the `faas.provider.v1` protocol, [`grpc::serve`] /
//!   [`grpc::serve_tls`] and [`grpc::RemoteProvider`].
//!
//! # Features
//! - `grpc` (default): the gRPC server adapter and client (tonic, prost; code generated at
//!   build time with protox, no `protoc` needed), with TLS through rustls and aws-lc-rs.
//!
//! # Running a provider out of process
//!
//! Any provider can be served over gRPC and used from another process through
//! [`grpc::RemoteProvider`], in plain text or over TLS (see [`grpc`] for mutual TLS, errors
//! and deadlines):
//!
//! ```no_run
//! # #[cfg(feature = "grpc")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use faas_core::Provider;
//! use faas_core::grpc::{RemoteConfig, RemoteProvider, ServerTls, TlsConfig};
//! use faas_core::memory::MemoryProvider;
//!
//! // The provider process: plain text…
//! tokio::spawn(faas_core::grpc::serve(Arc::new(MemoryProvider::new()), "127.0.0.1:50051".parse()?));
//! // …or TLS with a certificate for provider.internal.
//! let tls = ServerTls::new(std::fs::read("tls/server.crt")?, std::fs::read("tls/server.key")?);
//! tokio::spawn(faas_core::grpc::serve_tls(Arc::new(MemoryProvider::new()), "0.0.0.0:50052".parse()?, tls));
//!
//! // The gateway process.
//! let plain = RemoteProvider::connect(RemoteConfig::new("http://127.0.0.1:50051")).await?;
//! let secure = RemoteProvider::connect(
//!     RemoteConfig::new("https://10.0.0.7:50052").with_tls(
//!         TlsConfig::with_ca_pem(std::fs::read("tls/ca.crt")?).with_domain_name("provider.internal"),
//!     ),
//! )
//! .await?;
//! assert_eq!(plain.info().await?.provider, secure.info().await?.provider);
//! # Ok(())
//! # }
//! ```
//!
//! # Implementing a backend
//!
//! A backend implements every method of [`Provider`] (there are no default bodies). What its
//! [`Capabilities`] declare absent fails with [`ErrorKind::Unsupported`]; everything else
//! follows the trait's contract: `""` is the default namespace, input is validated with
//! [`validate`], and absent objects are `NotFound`. This one routes to HTTP services that
//! already run at fixed addresses, so it can neither scale nor hold secrets:
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::RwLock;
//! use std::time::Duration;
//!
//! use async_trait::async_trait;
//! use faas_core::{
//!     Capabilities, Endpoint, Error, FunctionDeployment, FunctionNamespace, FunctionStatus,
//!     LogRequest, LogStream, Provider, ProviderInfo, Result, ScaleRequest, Secret, SecretInfo,
//!     DEFAULT_NAMESPACE, validate,
//! };
//!
//! /// Functions are existing HTTP services; the `com.example/address` label says where.
//! #[derive(Debug, Default)]
//! struct StaticProvider {
//!     functions: RwLock<BTreeMap<String, (FunctionStatus, Endpoint)>>,
//! }
//!
//! const ADDRESS: &str = "com.example/address";
//!
//! impl StaticProvider {
//!     fn check_ns(namespace: &str) -> Result<()> {
//!         validate::namespace("namespace", namespace)?;
//!         match namespace {
//!             "" | DEFAULT_NAMESPACE => Ok(()),
//!             other => Err(Error::not_found(format!("namespace {other:?} not found")).with_field("namespace")),
//!         }
//!     }
//!
//!     fn endpoint(fd: &FunctionDeployment) -> Result<Endpoint> {
//!         let field = format!("annotations.{ADDRESS}");
//!         let addr = fd.annotations.get(ADDRESS).ok_or_else(|| Error::invalid(&field, "is required"))?;
//!         let (host, port) = addr.rsplit_once(':').ok_or_else(|| Error::invalid(&field, "must be host:port"))?;
//!         let port = port.parse().map_err(|_| Error::invalid(&field, "port must be a number"))?;
//!         Ok(Endpoint::new(host, port, format!("{}-0", fd.service)))
//!     }
//!
//!     fn store(&self, fd: FunctionDeployment, must_exist: bool) -> Result<()> {
//!         fd.validate()?;
//!         Self::check_ns(&fd.namespace)?;
//!         let endpoint = Self::endpoint(&fd)?;
//!         let mut functions = self.functions.write().map_err(|_| Error::internal("lock poisoned"))?;
//!         let created_at = match (functions.get(&fd.service), must_exist) {
//!             (Some(_), false) => return Err(Error::already_exists(format!("function {:?} exists", fd.service))),
//!             (None, true) => return Err(Error::not_found(format!("function {:?} not found", fd.service))),
//!             (Some((old, _)), true) => old.created_at,
//!             (None, false) => chrono::Utc::now(),
//!         };
//!         let mut status = FunctionStatus::from_deployment(&fd, DEFAULT_NAMESPACE, created_at);
//!         (status.replicas, status.available_replicas) = (1, 1);
//!         functions.insert(fd.service.clone(), (status, endpoint));
//!         Ok(())
//!     }
//!
//!     fn lookup(&self, name: &str, namespace: &str) -> Result<(FunctionStatus, Endpoint)> {
//!         validate::function_name("name", name)?;
//!         Self::check_ns(namespace)?;
//!         let functions = self.functions.read().map_err(|_| Error::internal("lock poisoned"))?;
//!         functions.get(name).cloned().ok_or_else(|| Error::not_found(format!("function {name:?} not found")))
//!     }
//! }
//!
//! fn unsupported<T>(what: &str) -> Result<T> {
//!     Err(Error::unsupported(format!("StaticProvider cannot {what}")))
//! }
//!
//! #[async_trait]
//! impl Provider for StaticProvider {
//!     async fn info(&self) -> Result<ProviderInfo> {
//!         // Capabilities::default() declares every optional operation absent.
//!         Ok(ProviderInfo {
//!             provider: "static".into(),
//!             orchestration: "static".into(),
//!             default_namespace: DEFAULT_NAMESPACE.into(),
//!             capabilities: Capabilities::default(),
//!             ..ProviderInfo::default()
//!         })
//!     }
//!     async fn health(&self) -> Result<()> { Ok(()) }
//!     async fn deploy(&self, fd: FunctionDeployment) -> Result<()> { self.store(fd, false) }
//!     async fn update(&self, fd: FunctionDeployment) -> Result<()> { self.store(fd, true) }
//!     async fn delete(&self, name: &str, namespace: &str) -> Result<()> {
//!         self.lookup(name, namespace)?;
//!         self.functions.write().map_err(|_| Error::internal("lock poisoned"))?.remove(name);
//!         Ok(())
//!     }
//!     async fn get(&self, name: &str, namespace: &str) -> Result<FunctionStatus> {
//!         Ok(self.lookup(name, namespace)?.0)
//!     }
//!     async fn list(&self, namespace: &str) -> Result<Vec<FunctionStatus>> {
//!         Self::check_ns(namespace)?;
//!         let functions = self.functions.read().map_err(|_| Error::internal("lock poisoned"))?;
//!         Ok(functions.values().map(|(status, _)| status.clone()).collect())
//!     }
//!     async fn scale(&self, _: ScaleRequest) -> Result<()> { unsupported("scale") }
//!     async fn resolve(&self, name: &str, namespace: &str) -> Result<Vec<Endpoint>> {
//!         Ok(vec![self.lookup(name, namespace)?.1])
//!     }
//!     async fn wait_ready(&self, name: &str, namespace: &str, _: Duration) -> Result<Vec<Endpoint>> {
//!         // Always ready: the service runs already.
//!         self.resolve(name, namespace).await
//!     }
//!     async fn logs(&self, _: LogRequest) -> Result<LogStream> { unsupported("read logs") }
//!     async fn list_secrets(&self, _: &str) -> Result<Vec<SecretInfo>> { unsupported("hold secrets") }
//!     async fn create_secret(&self, _: Secret) -> Result<()> { unsupported("hold secrets") }
//!     async fn update_secret(&self, _: Secret) -> Result<()> { unsupported("hold secrets") }
//!     async fn delete_secret(&self, _: &str, _: &str) -> Result<()> { unsupported("hold secrets") }
//!     async fn list_namespaces(&self) -> Result<Vec<String>> { Ok(vec![DEFAULT_NAMESPACE.into()]) }
//!     async fn get_namespace(&self, name: &str) -> Result<FunctionNamespace> {
//!         Self::check_ns(name)?;
//!         Ok(FunctionNamespace::new(DEFAULT_NAMESPACE))
//!     }
//!     async fn create_namespace(&self, _: FunctionNamespace) -> Result<()> { unsupported("create namespaces") }
//!     async fn update_namespace(&self, _: FunctionNamespace) -> Result<()> { unsupported("update namespaces") }
//!     async fn delete_namespace(&self, _: &str) -> Result<()> { unsupported("delete namespaces") }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! use std::sync::Arc;
//! use faas_core::{ErrorKind, ProviderExt};
//!
//! let provider: Arc<dyn Provider> = Arc::new(StaticProvider::default());
//! let fd = FunctionDeployment::new("legacy", "example/legacy:1")
//!     .with_annotation(ADDRESS, "127.0.0.1:9000");
//! let endpoints = provider.deploy_and_wait(fd, Duration::from_secs(1)).await?;
//! assert_eq!(endpoints[0].base_url(), "http://127.0.0.1:9000");
//! let err = provider.scale(ScaleRequest::new("legacy", "", 2)).await.err();
//! assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Unsupported));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod error;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod memory;
pub mod model;
pub mod provider;
pub mod validate;

pub use error::{Error, ErrorBody, ErrorKind, Result};
pub use model::*;
pub use provider::{DynProvider, LogStream, Provider, ProviderExt};
