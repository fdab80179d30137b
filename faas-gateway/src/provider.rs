//! Builds the configured backend as an `Arc<DynProvider>`.

use std::path::Path;
use std::sync::Arc;

use faas_core::DynProvider;
use faas_core::memory::{MemoryConfig, MemoryProvider};

use crate::config::{GatewayConfig, ProviderSpec};

/// Connects to (or starts) the provider `config.provider` names.
pub async fn connect(config: &GatewayConfig) -> Result<Arc<DynProvider>, faas_core::Error> {
    match &config.provider {
        ProviderSpec::Memory => {
            let limit = usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX);
            Ok(Arc::new(MemoryProvider::with_config(
                MemoryConfig::default().with_max_body_bytes(limit),
            )))
        }
        ProviderSpec::Local => local(&config.data_dir).await,
        ProviderSpec::Grpc(url) => grpc(url).await,
    }
}

async fn local(_data_dir: &Path) -> Result<Arc<DynProvider>, faas_core::Error> {
    Err(faas_core::Error::unsupported(
        "the local provider is not built into this gateway yet; start with --provider memory or grpc://host:port",
    ))
}

async fn grpc(url: &str) -> Result<Arc<DynProvider>, faas_core::Error> {
    Err(faas_core::Error::unsupported(format!(
        "the gRPC provider client is not built into this gateway yet ({url})"
    )))
}
