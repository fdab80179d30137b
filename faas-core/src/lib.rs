//! The core of an OpenFaaS-compatible serverless platform.
//!
//! Placeholder crate docs; replaced below.
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
