//! The benchmarks' provider: the reference [`MemoryProvider`], except that `resolve` sends
//! every existing function to one trivial upstream on 127.0.0.1, so the gateway's own work is
//! what gets measured.

use std::time::Duration;

use async_trait::async_trait;
use faas_core::memory::MemoryProvider;
use faas_core::{
    Endpoint, FunctionDeployment, FunctionNamespace, FunctionStatus, LogRequest, LogStream,
    Provider, ProviderInfo, Result as CoreResult, ScaleRequest, Secret, SecretInfo,
};

/// The reference provider, except that `resolve` sends every existing function to the one
/// trivial upstream, so all three phases call the same server.
#[derive(Debug)]
pub(crate) struct FixedUpstream {
    inner: MemoryProvider,
    upstream: u16,
}

impl FixedUpstream {
    /// Every function resolves to `127.0.0.1:upstream`.
    pub(crate) fn new(upstream: u16) -> Self {
        Self {
            inner: MemoryProvider::new(),
            upstream,
        }
    }
}

#[async_trait]
impl Provider for FixedUpstream {
    async fn info(&self) -> CoreResult<ProviderInfo> {
        self.inner.info().await
    }
    async fn health(&self) -> CoreResult<()> {
        self.inner.health().await
    }
    async fn deploy(&self, d: FunctionDeployment) -> CoreResult<()> {
        self.inner.deploy(d).await
    }
    async fn update(&self, d: FunctionDeployment) -> CoreResult<()> {
        self.inner.update(d).await
    }
    async fn delete(&self, name: &str, namespace: &str) -> CoreResult<()> {
        self.inner.delete(name, namespace).await
    }
    async fn get(&self, name: &str, namespace: &str) -> CoreResult<FunctionStatus> {
        self.inner.get(name, namespace).await
    }
    async fn list(&self, namespace: &str) -> CoreResult<Vec<FunctionStatus>> {
        self.inner.list(namespace).await
    }
    async fn scale(&self, r: ScaleRequest) -> CoreResult<()> {
        self.inner.scale(r).await
    }
    async fn resolve(&self, name: &str, namespace: &str) -> CoreResult<Vec<Endpoint>> {
        self.inner.get(name, namespace).await?;
        Ok(vec![Endpoint::new("127.0.0.1", self.upstream, "bench-0")])
    }
    async fn wait_ready(
        &self,
        name: &str,
        namespace: &str,
        _timeout: Duration,
    ) -> CoreResult<Vec<Endpoint>> {
        self.resolve(name, namespace).await
    }
    async fn logs(&self, r: LogRequest) -> CoreResult<LogStream> {
        self.inner.logs(r).await
    }
    async fn list_secrets(&self, namespace: &str) -> CoreResult<Vec<SecretInfo>> {
        self.inner.list_secrets(namespace).await
    }
    async fn create_secret(&self, s: Secret) -> CoreResult<()> {
        self.inner.create_secret(s).await
    }
    async fn update_secret(&self, s: Secret) -> CoreResult<()> {
        self.inner.update_secret(s).await
    }
    async fn delete_secret(&self, name: &str, namespace: &str) -> CoreResult<()> {
        self.inner.delete_secret(name, namespace).await
    }
    async fn list_namespaces(&self) -> CoreResult<Vec<String>> {
        self.inner.list_namespaces().await
    }
    async fn get_namespace(&self, name: &str) -> CoreResult<FunctionNamespace> {
        self.inner.get_namespace(name).await
    }
    async fn create_namespace(&self, n: FunctionNamespace) -> CoreResult<()> {
        self.inner.create_namespace(n).await
    }
    async fn update_namespace(&self, n: FunctionNamespace) -> CoreResult<()> {
        self.inner.update_namespace(n).await
    }
    async fn delete_namespace(&self, name: &str) -> CoreResult<()> {
        self.inner.delete_namespace(name).await
    }
}
