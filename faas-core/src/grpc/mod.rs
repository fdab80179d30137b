//! The gRPC provider protocol (`proto/faas/provider/v1/provider.proto`): serve any
//! [`Provider`](crate::Provider) with [`serve`], reach one with [`RemoteProvider`].
//!
//! Feature `grpc` (on by default). The code is generated at build time with protox and
//! tonic-prost-build, so no `protoc` is needed.
//!
//! # Layout
//! - [`pb`]: the generated messages, client and server.
//! - [`status`]: the `ErrorKind` ↔ gRPC `Code` table and the error metadata.
//! - `convert`: proto ↔ model conversions (`From`/`TryFrom` impls).
//! - [`server`]: [`serve`], [`serve_with_shutdown`], [`router`], the health service.
//! - [`client`]: [`RemoteProvider`] and its [`RemoteConfig`].

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
pub use server::{ProviderHealth, ProviderService, router, serve, serve_with_shutdown};

/// The fully qualified gRPC service name, also the name checked through `grpc.health.v1`.
pub const SERVICE_NAME: &str = "faas.provider.v1.Provider";
