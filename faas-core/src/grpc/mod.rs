//! The gRPC provider protocol (`proto/faas/provider/v1/provider.proto`): serve any
//! [`Provider`](crate::Provider) with [`serve`] (or [`serve_tls`]), reach one with
//! [`RemoteProvider`].
//!
//! Feature `grpc` (on by default). The code is generated at build time with protox and
//! tonic-prost-build, so no `protoc` is needed. TLS is rustls with the aws-lc-rs crypto
//! provider, the only one in the build.
//!
//! # Serving a provider
//!
//! In plain text, on a trusted network or behind a TLS-terminating proxy:
//!
//! ```no_run
//! use std::sync::Arc;
//! use faas_core::memory::MemoryProvider;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = Arc::new(MemoryProvider::new());
//! faas_core::grpc::serve(provider, "127.0.0.1:50051".parse()?).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Over TLS, stopping on Ctrl-C; with [`ServerTls::with_client_ca_pem`] only clients holding
//! a certificate from that CA get in (mutual TLS):
//!
//! ```no_run
//! use std::sync::Arc;
//! use faas_core::grpc::{ServerTls, serve_tls_with_shutdown};
//! use faas_core::memory::MemoryProvider;
//! use tokio::net::TcpListener;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = ServerTls::new(std::fs::read("tls/server.crt")?, std::fs::read("tls/server.key")?)
//!     .with_client_ca_pem(std::fs::read("tls/clients-ca.crt")?);
//! let listener = TcpListener::bind("0.0.0.0:50051").await?;
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! serve_tls_with_shutdown(Arc::new(MemoryProvider::new()), listener, tls, shutdown).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Connecting to one
//!
//! [`RemoteProvider`] implements [`Provider`](crate::Provider). Over TLS the endpoint is
//! `https://`, the CA is the one that signed the server's certificate, and the domain name is
//! the name in that certificate when it differs from the host dialled:
//!
//! ```no_run
//! use std::time::Duration;
//! use faas_core::Provider;
//! use faas_core::grpc::{RemoteConfig, RemoteProvider, TlsConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsConfig::with_ca_pem(std::fs::read("tls/ca.crt")?)
//!     .with_domain_name("provider.internal")
//!     // Only for a server that requires client certificates:
//!     .with_client_identity(std::fs::read("tls/gateway.crt")?, std::fs::read("tls/gateway.key")?);
//! let config = RemoteConfig::new("https://10.0.0.7:50051")
//!     .with_tls(tls)
//!     .with_request_timeout(Duration::from_secs(10));
//! let provider = RemoteProvider::connect(config).await?;
//! provider.health().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Errors and deadlines
//!
//! Errors raised by the served provider keep their kind, message and field across the hop
//! ([`status`]). Failures of the hop itself are classified by the client: a server it cannot
//! reach, or whose TLS handshake fails (untrusted certificate, wrong name, client certificate
//! refused), is `Unavailable` with the reason in the message; a call that outlives
//! [`RemoteConfig::request_timeout`] is `Timeout`. The deadline travels to the server as
//! `grpc-timeout`, which drops the call when it passes, and the client enforces it too, so
//! a hung server cannot hang the caller.
//!
//! # Layout
//! - [`pb`]: the generated messages, client and server.
//! - [`status`]: the `ErrorKind` ↔ gRPC `Code` table and the error metadata.
//! - `convert`: proto ↔ model conversions (`From`/`TryFrom` impls).
//! - [`server`]: [`serve`], [`serve_with_shutdown`], [`serve_tls`],
//!   [`serve_tls_with_shutdown`], [`ServerTls`], [`router`], the health service.
//! - [`client`]: [`RemoteProvider`], its [`RemoteConfig`] and [`TlsConfig`].

pub mod client;
mod convert;
pub mod server;
pub mod status;

/// The generated protocol types (`faas.provider.v1`), client and server.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
pub mod pb {
    tonic::include_proto!("faas.provider.v1");
}

pub use client::{RemoteConfig, RemoteProvider, TlsConfig};
pub use server::{
    ProviderHealth, ProviderService, ServerTls, router, serve, serve_tls, serve_tls_with_shutdown,
    serve_with_shutdown,
};

/// The fully qualified gRPC service name, also the name checked through `grpc.health.v1`.
pub const SERVICE_NAME: &str = "faas.provider.v1.Provider";
