//! [`DockerProvider`]: the [`Provider`] implementation, delegating to one module per topic.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::NetworkCreateRequest;
use faas_core::{
    Capabilities, Endpoint, FunctionDeployment, FunctionNamespace, FunctionStatus, LogRequest,
    LogStream, Provider, ProviderInfo, Result, ScaleRequest, Secret, SecretInfo, VersionInfo,
};

use crate::config::DockerConfig;
use crate::engine::Engine;
use crate::error::DockerError;
use crate::ready::Readiness;
use crate::translate::Keys;

/// Functions as Docker Swarm services. Cheap to clone (shared state behind an `Arc`).
#[derive(Debug, Clone)]
pub struct DockerProvider {
    pub(crate) inner: Arc<Inner>,
}

/// The provider's shared state.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: DockerConfig,
    pub(crate) engine: Engine,
    pub(crate) keys: Keys,
    pub(crate) readiness: Readiness,
}

impl DockerProvider {
    /// Connects to the engine named by `config.host`, checks that it is a Swarm manager and
    /// creates the function network when missing.
    ///
    /// `Unavailable` with how to fix it when the engine does not answer or is not a manager.
    pub async fn new(config: DockerConfig) -> Result<Self> {
        faas_core::validate::namespace("default_namespace", &config.default_namespace)?;
        let inner = Inner {
            engine: Engine::new(&config.host, config.api_timeout),
            keys: Keys::new(&config.label_prefix),
            readiness: Readiness::new(config.probe_timeout, config.ready_ttl),
            config,
        };
        inner.engine.check_swarm_manager().await?;
        inner.ensure_network().await?;
        tracing::info!(host = %inner.engine.host(), network = %inner.config.network, "docker provider ready");
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &DockerConfig {
        &self.inner.config
    }
}

impl Inner {
    pub(crate) async fn docker(&self) -> Result<Docker, DockerError> {
        self.engine.client().await
    }

    /// `""` becomes the default namespace; anything else must be a valid name.
    pub(crate) fn namespace(&self, namespace: &str) -> Result<String> {
        faas_core::validate::namespace("namespace", namespace)?;
        Ok(if namespace.is_empty() {
            self.config.default_namespace.clone()
        } else {
            namespace.to_owned()
        })
    }

    /// Docker `label` filters for objects of `kind` with extra `key=value` pairs.
    pub(crate) fn label_filter(
        &self,
        kind: &str,
        extra: &[(String, &str)],
    ) -> HashMap<String, Vec<String>> {
        let mut labels = vec![
            format!("{}=true", self.keys.managed()),
            format!("{}={kind}", self.keys.kind()),
        ];
        labels.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
        HashMap::from([("label".to_owned(), labels)])
    }

    pub(crate) fn credentials(&self) -> Option<DockerCredentials> {
        self.config
            .registry_auth
            .as_ref()
            .map(|a| DockerCredentials {
                username: Some(a.username.clone()),
                password: Some(a.password.clone()),
                serveraddress: (!a.server_address.is_empty()).then(|| a.server_address.clone()),
                ..Default::default()
            })
    }

    /// Creates the overlay network functions attach to, unless it exists.
    pub(crate) async fn ensure_network(&self) -> Result<(), DockerError> {
        let docker = self.docker().await?;
        let name = &self.config.network;
        match docker.inspect_network(name, None).await {
            Ok(_) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(self.engine.fail("inspect network", e)),
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("overlay".to_owned()),
            attachable: Some(true),
            labels: Some(HashMap::from([
                ("openfaas".to_owned(), "true".to_owned()),
                (self.keys.managed(), "true".to_owned()),
            ])),
            ..Default::default()
        };
        match docker.create_network(request).await {
            Ok(_) => {
                tracing::info!(network = %name, "created function network");
                Ok(())
            }
            // Created meanwhile by another provider instance.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(self.engine.fail("create network", e)),
        }
    }
}

#[async_trait]
impl Provider for DockerProvider {
    async fn info(&self) -> Result<ProviderInfo> {
        let mut capabilities = Capabilities::default();
        capabilities.scale = true;
        capabilities.scale_can_zero = true;
        capabilities.secrets = true;
        capabilities.secrets_can_update = true;
        capabilities.namespaces = true;
        capabilities.namespaces_can_mutate = true;
        capabilities.logs = true;
        capabilities.logs_can_follow = true;
        capabilities.deploy_with_limits = true;
        capabilities.deploy_with_constraints = true;
        capabilities.deploy_with_read_only_root_filesystem = true;
        Ok(ProviderInfo {
            provider: "faas-swarm".to_owned(),
            version: VersionInfo {
                commit_message: String::new(),
                sha: String::new(),
                release: env!("CARGO_PKG_VERSION").to_owned(),
            },
            orchestration: "swarm".to_owned(),
            default_namespace: self.inner.config.default_namespace.clone(),
            capabilities,
        })
    }

    async fn health(&self) -> Result<()> {
        Ok(self.inner.engine.check_swarm_manager().await?)
    }

    async fn deploy(&self, deployment: FunctionDeployment) -> Result<()> {
        self.inner.deploy(deployment).await
    }

    async fn update(&self, deployment: FunctionDeployment) -> Result<()> {
        self.inner.update(deployment).await
    }

    async fn delete(&self, name: &str, namespace: &str) -> Result<()> {
        self.inner.delete(name, namespace).await
    }

    async fn get(&self, name: &str, namespace: &str) -> Result<FunctionStatus> {
        self.inner.get(name, namespace).await
    }

    async fn list(&self, namespace: &str) -> Result<Vec<FunctionStatus>> {
        self.inner.list(namespace).await
    }

    async fn scale(&self, request: ScaleRequest) -> Result<()> {
        self.inner.scale(request).await
    }

    async fn resolve(&self, name: &str, namespace: &str) -> Result<Vec<Endpoint>> {
        self.inner.resolve(name, namespace).await
    }

    async fn wait_ready(
        &self,
        name: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<Vec<Endpoint>> {
        self.inner.wait_ready(name, namespace, timeout).await
    }

    async fn logs(&self, request: LogRequest) -> Result<LogStream> {
        self.inner.clone().logs(request).await
    }

    async fn list_secrets(&self, namespace: &str) -> Result<Vec<SecretInfo>> {
        self.inner.list_secrets(namespace).await
    }

    async fn create_secret(&self, secret: Secret) -> Result<()> {
        self.inner.create_secret(secret).await
    }

    async fn update_secret(&self, secret: Secret) -> Result<()> {
        self.inner.clone().update_secret(secret).await
    }

    async fn delete_secret(&self, name: &str, namespace: &str) -> Result<()> {
        self.inner.delete_secret(name, namespace).await
    }

    async fn list_namespaces(&self) -> Result<Vec<String>> {
        self.inner.list_namespaces().await
    }

    async fn get_namespace(&self, name: &str) -> Result<FunctionNamespace> {
        self.inner.get_namespace(name).await
    }

    async fn create_namespace(&self, namespace: FunctionNamespace) -> Result<()> {
        self.inner.create_namespace(namespace).await
    }

    async fn update_namespace(&self, namespace: FunctionNamespace) -> Result<()> {
        self.inner.update_namespace(namespace).await
    }

    async fn delete_namespace(&self, name: &str) -> Result<()> {
        self.inner.delete_namespace(name).await
    }
}
