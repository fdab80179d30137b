//! Builds the configured backend.

use std::fmt;
use std::sync::Arc;

use faas_core::DynProvider;
use faas_core::memory::{MemoryConfig, MemoryProvider};
use faas_provider_local::{LocalConfig, LocalProvider};

use crate::config::{GatewayConfig, ProviderSpec};

/// The running backend: the provider the gateway calls, plus what must be stopped at exit.
pub struct Backend {
    provider: Arc<DynProvider>,
    local: Option<Arc<LocalProvider>>,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// Connects to (or starts) the provider `config.provider` names. The local provider keeps
    /// its state in `config.data_dir` and restores recorded functions.
    pub async fn connect(config: &GatewayConfig) -> Result<Self, faas_core::Error> {
        match &config.provider {
            ProviderSpec::Memory => {
                let limit = usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX);
                let memory =
                    MemoryProvider::with_config(MemoryConfig::default().with_max_body_bytes(limit));
                Ok(Self {
                    provider: Arc::new(memory),
                    local: None,
                })
            }
            ProviderSpec::Local => {
                let mut local_config = LocalConfig::new(&config.data_dir);
                if let Some(key) = &config.secrets_key_file {
                    local_config = local_config.with_secrets_key_file(key);
                }
                let local = Arc::new(LocalProvider::new(local_config).await?);
                tracing::info!(
                    data_dir = %config.data_dir.display(),
                    isolated = local.isolated(),
                    limits_enforced = local.limits_enforced(),
                    "local provider started"
                );
                Ok(Self {
                    provider: local.clone(),
                    local: Some(local),
                })
            }
            ProviderSpec::Grpc(url) => Ok(Self {
                provider: grpc(url).await?,
                local: None,
            }),
            ProviderSpec::Docker => Ok(Self {
                provider: docker(config).await?,
                local: None,
            }),
        }
    }

    /// The provider to hand to [`crate::AppState::new`].
    pub fn provider(&self) -> Arc<DynProvider> {
        Arc::clone(&self.provider)
    }

    /// Stops what the gateway started (the local provider's function processes).
    pub async fn shutdown(&self) {
        if let Some(local) = &self.local {
            local.shutdown().await;
        }
    }
}

#[cfg(feature = "grpc")]
async fn grpc(url: &str) -> Result<Arc<DynProvider>, faas_core::Error> {
    use faas_core::grpc::{RemoteConfig, RemoteProvider};
    Ok(Arc::new(
        RemoteProvider::connect(RemoteConfig::new(url)).await?,
    ))
}

#[cfg(not(feature = "grpc"))]
async fn grpc(url: &str) -> Result<Arc<DynProvider>, faas_core::Error> {
    Err(faas_core::Error::unsupported(format!(
        "this gateway was built without the `grpc` feature, so it cannot reach {url}"
    )))
}

#[cfg(feature = "docker")]
async fn docker(config: &GatewayConfig) -> Result<Arc<DynProvider>, faas_core::Error> {
    use faas_provider_docker::{DockerConfig, DockerProvider};
    let docker_config = DockerConfig::from_lookup(|name| config.docker.get(name))
        .map_err(|m| faas_core::Error::invalid("docker", m))?;
    let provider = DockerProvider::new(docker_config).await?;
    let c = provider.config();
    tracing::info!(host = %c.host, network = %c.network, resolve = ?c.resolve_mode, "docker provider connected");
    Ok(Arc::new(provider))
}

#[cfg(not(feature = "docker"))]
async fn docker(_config: &GatewayConfig) -> Result<Arc<DynProvider>, faas_core::Error> {
    Err(faas_core::Error::unsupported(
        "this gateway was built without the `docker` feature: rebuild with --features docker",
    ))
}
