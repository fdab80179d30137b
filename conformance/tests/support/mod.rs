//! A deliberately broken provider for the tests: MemoryProvider behind a wrapper with one
//! [`Fault`].
#![allow(dead_code)]

use std::time::Duration;

use async_trait::async_trait;
use faas_core::memory::MemoryProvider;
use faas_core::{
    Endpoint, Error, ErrorKind, FunctionDeployment, FunctionNamespace, FunctionResources,
    FunctionStatus, LABEL_FUNCTION_NAME, LogRequest, LogStream, Provider, ProviderInfo, Result,
    ScaleRequest, Secret, SecretInfo,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// get and list drop every label but faas_function.
    LosesLabels,
    /// get of a missing function answers Internal instead of NotFound.
    WrongKindForMissing,
    /// claims `logs_can_follow` but a follow stream ends like a plain read.
    ClaimsFollowItLacks,
    /// declares `scale: false` yet scales.
    ScalesWhileUndeclared,
    /// get shows requests nobody sent.
    InventsRequests,
    /// logs ignore `since` and return every kept line.
    IgnoresSince,
}

#[derive(Debug)]
pub(crate) struct Broken {
    pub(crate) inner: MemoryProvider,
    pub(crate) fault: Fault,
}

impl Broken {
    fn mangle(&self, mut s: FunctionStatus) -> FunctionStatus {
        match self.fault {
            Fault::LosesLabels => s.labels.retain(|k, _| k == LABEL_FUNCTION_NAME),
            Fault::InventsRequests if s.requests.is_none() => {
                s.requests = Some(FunctionResources {
                    memory: "64Mi".into(),
                    ..Default::default()
                })
            }
            _ => {}
        }
        s
    }
}

#[async_trait]
impl Provider for Broken {
    async fn info(&self) -> Result<ProviderInfo> {
        let mut info = self.inner.info().await?;
        if self.fault == Fault::ScalesWhileUndeclared {
            info.capabilities.scale = false;
        }
        Ok(info)
    }
    async fn health(&self) -> Result<()> {
        self.inner.health().await
    }
    async fn deploy(&self, d: FunctionDeployment) -> Result<()> {
        self.inner.deploy(d).await
    }
    async fn update(&self, d: FunctionDeployment) -> Result<()> {
        self.inner.update(d).await
    }
    async fn delete(&self, name: &str, ns: &str) -> Result<()> {
        self.inner.delete(name, ns).await
    }
    async fn get(&self, name: &str, ns: &str) -> Result<FunctionStatus> {
        match self.inner.get(name, ns).await {
            Err(e)
                if e.kind() == ErrorKind::NotFound && self.fault == Fault::WrongKindForMissing =>
            {
                Err(Error::internal(format!("lookup failed: {e}")))
            }
            r => r.map(|s| self.mangle(s)),
        }
    }
    async fn list(&self, ns: &str) -> Result<Vec<FunctionStatus>> {
        Ok(self
            .inner
            .list(ns)
            .await?
            .into_iter()
            .map(|s| self.mangle(s))
            .collect())
    }
    async fn scale(&self, r: ScaleRequest) -> Result<()> {
        self.inner.scale(r).await
    }
    async fn resolve(&self, name: &str, ns: &str) -> Result<Vec<Endpoint>> {
        self.inner.resolve(name, ns).await
    }
    async fn wait_ready(&self, name: &str, ns: &str, timeout: Duration) -> Result<Vec<Endpoint>> {
        self.inner.wait_ready(name, ns, timeout).await
    }
    async fn logs(&self, r: LogRequest) -> Result<LogStream> {
        let r = match self.fault {
            Fault::ClaimsFollowItLacks => r.with_follow(false),
            Fault::IgnoresSince => LogRequest { since: None, ..r },
            _ => r,
        };
        self.inner.logs(r).await
    }
    async fn list_secrets(&self, ns: &str) -> Result<Vec<SecretInfo>> {
        self.inner.list_secrets(ns).await
    }
    async fn create_secret(&self, s: Secret) -> Result<()> {
        self.inner.create_secret(s).await
    }
    async fn update_secret(&self, s: Secret) -> Result<()> {
        self.inner.update_secret(s).await
    }
    async fn delete_secret(&self, name: &str, ns: &str) -> Result<()> {
        self.inner.delete_secret(name, ns).await
    }
    async fn list_namespaces(&self) -> Result<Vec<String>> {
        self.inner.list_namespaces().await
    }
    async fn get_namespace(&self, name: &str) -> Result<FunctionNamespace> {
        self.inner.get_namespace(name).await
    }
    async fn create_namespace(&self, ns: FunctionNamespace) -> Result<()> {
        self.inner.create_namespace(ns).await
    }
    async fn update_namespace(&self, ns: FunctionNamespace) -> Result<()> {
        self.inner.update_namespace(ns).await
    }
    async fn delete_namespace(&self, name: &str) -> Result<()> {
        self.inner.delete_namespace(name).await
    }
}
