//! The [`Provider`] trait: what a backend implements, and [`ProviderExt`]: conveniences built
//! on it.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::error::{ErrorKind, Result};
use crate::model::{
    Endpoint, FunctionDeployment, FunctionNamespace, FunctionStatus, LogEntry, LogRequest,
    ProviderInfo, ScaleRequest, Secret, SecretInfo,
};

/// A stream of log lines; ends when the provider has no more (or, when following, when the
/// function is deleted or the consumer drops it). An item error ends the stream.
pub type LogStream = BoxStream<'static, Result<LogEntry>>;

/// A provider as a trait object, the way the gateway holds it: `Arc<DynProvider>`.
pub type DynProvider = dyn Provider;

/// A backend that runs functions: one method per OpenFaaS provider operation.
///
/// Object safe (`Arc<dyn Provider>`), `Send + Sync`, async through `async_trait`. There are no
/// default bodies: a backend states every behaviour, and an operation its
/// [`Capabilities`](crate::model::Capabilities) declare absent returns
/// [`ErrorKind::Unsupported`].
///
/// # Contract
///
/// The numbered clauses in `conformance/SPEC.md` are the full contract; the conformance suite
/// checks them. In short:
///
/// - **Namespaces.** Every method that takes a `namespace` treats `""` as
///   [`ProviderInfo::default_namespace`]. A function is identified by (namespace, name): the
///   same name in two namespaces is two functions, and nothing in one namespace is visible
///   from another. A namespace that does not exist is `NotFound`.
/// - **Validation.** Invalid input (see [`crate::validate`]) is `InvalidInput` naming the
///   field, and changes nothing. Providers call [`FunctionDeployment::validate`] themselves;
///   they never trust the caller to have done it.
/// - **Errors.** `NotFound` means the named function, secret or namespace does not exist;
///   `AlreadyExists` means a create found one. Retryable failures of the backend are
///   `Unavailable` or `Timeout`.
/// - **Idempotence.** `delete`, `delete_secret` and `delete_namespace` of something absent are
///   `NotFound` and change nothing, so repeating a delete is safe in effect (the second call
///   reports `NotFound`; callers that only want it gone treat that as success). `scale` to the
///   current count succeeds and changes nothing. `deploy` of an existing name is
///   `AlreadyExists` and leaves the existing function untouched.
/// - **Readiness.** A replica is *ready* when its HTTP server answers the watchdog health
///   check (`/_/health`). `available_replicas` counts ready replicas, `replicas` the desired
///   count. `resolve` returns only ready endpoints.
#[async_trait]
pub trait Provider: Send + Sync + Debug + 'static {
    /// Who the provider is and what it supports. Cheap; may be called on every request.
    async fn info(&self) -> Result<ProviderInfo>;

    /// `Ok` when the backend is reachable and able to serve, `Unavailable` otherwise.
    async fn health(&self) -> Result<()>;

    /// Deploys a new function with `com.openfaas.scale.min` replicas (default 1).
    ///
    /// Returns once the function is recorded; replicas become ready asynchronously (use
    /// [`Provider::wait_ready`]). `AlreadyExists` if the name is taken in that namespace;
    /// `NotFound` if the namespace does not exist or a listed secret is missing.
    async fn deploy(&self, deployment: FunctionDeployment) -> Result<()>;

    /// Replaces an existing function's spec (image, env, labels, …), keeping its name,
    /// namespace and creation time. Rolling: ready replicas keep serving until replacements
    /// are ready. `NotFound` if it does not exist (faas-cli relies on this to fall back to
    /// deploy). The replica count is kept unless `com.openfaas.scale.min` now asks for more.
    async fn update(&self, deployment: FunctionDeployment) -> Result<()>;

    /// Deletes a function and everything it runs. `NotFound` if absent.
    async fn delete(&self, name: &str, namespace: &str) -> Result<()>;

    /// One function's status. `NotFound` if absent.
    async fn get(&self, name: &str, namespace: &str) -> Result<FunctionStatus>;

    /// Every function in a namespace (empty list when there are none), sorted by name.
    async fn list(&self, namespace: &str) -> Result<Vec<FunctionStatus>>;

    /// Sets the desired replica count. 0 is allowed when `scale_can_zero` is declared, else
    /// `Unsupported`. Above `replicas_max` is `InvalidInput` naming `replicas`. `NotFound` if
    /// the function is absent. Returns without waiting for the replicas to become ready.
    async fn scale(&self, request: ScaleRequest) -> Result<()>;

    /// The ready endpoints of a function, for the gateway to call. An existing function with
    /// no ready replica (scaled to zero, or starting) returns `Ok(vec![])`, never an error;
    /// `NotFound` only when the function does not exist.
    async fn resolve(&self, name: &str, namespace: &str) -> Result<Vec<Endpoint>>;

    /// Waits until the function has at least one ready endpoint and returns the ready ones.
    ///
    /// Event-driven where the backend allows (no fixed sleeps); `Timeout` when `timeout`
    /// passes first; `NotFound` if the function does not exist (or is deleted meanwhile).
    /// Does not scale: callers scale first when the function is at zero.
    async fn wait_ready(
        &self,
        name: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<Vec<Endpoint>>;

    /// A function's log lines, oldest first, filtered by `since`, `instance` and `tail`; with
    /// `follow`, the stream stays open and yields new lines as they are written. `NotFound`
    /// if the function is absent.
    async fn logs(&self, request: LogRequest) -> Result<LogStream>;

    /// The secrets of a namespace, names only, sorted by name.
    async fn list_secrets(&self, namespace: &str) -> Result<Vec<SecretInfo>>;

    /// Creates a secret. `AlreadyExists` if the name is taken in that namespace.
    async fn create_secret(&self, secret: Secret) -> Result<()>;

    /// Replaces a secret's value; functions that mount it see the new value by their next
    /// replica start at the latest. `NotFound` if absent.
    async fn update_secret(&self, secret: Secret) -> Result<()>;

    /// Deletes a secret. `NotFound` if absent.
    async fn delete_secret(&self, name: &str, namespace: &str) -> Result<()>;

    /// Every namespace that can hold functions, sorted, the default included.
    async fn list_namespaces(&self) -> Result<Vec<String>>;

    /// One namespace with its metadata. `NotFound` if absent.
    async fn get_namespace(&self, name: &str) -> Result<FunctionNamespace>;

    /// Creates a namespace. `AlreadyExists` if it exists.
    async fn create_namespace(&self, namespace: FunctionNamespace) -> Result<()>;

    /// Replaces a namespace's labels and annotations. `NotFound` if absent.
    async fn update_namespace(&self, namespace: FunctionNamespace) -> Result<()>;

    /// Deletes a namespace. `NotFound` if absent; `Conflict` while it still holds functions
    /// or secrets, or when it is the default namespace.
    async fn delete_namespace(&self, name: &str) -> Result<()>;
}

/// Conveniences for callers, implemented for every [`Provider`].
#[async_trait]
pub trait ProviderExt: Provider {
    /// `get`, with `NotFound` turned into `None`.
    async fn get_opt(&self, name: &str, namespace: &str) -> Result<Option<FunctionStatus>> {
        match self.get(name, namespace).await {
            Ok(status) => Ok(Some(status)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deploys, then waits up to `timeout` for a ready endpoint.
    async fn deploy_and_wait(
        &self,
        deployment: FunctionDeployment,
        timeout: Duration,
    ) -> Result<Vec<Endpoint>> {
        let name = deployment.service.clone();
        let namespace = deployment.namespace.clone();
        self.deploy(deployment).await?;
        self.wait_ready(&name, &namespace, timeout).await
    }
}

impl<P: Provider + ?Sized> ProviderExt for P {}
