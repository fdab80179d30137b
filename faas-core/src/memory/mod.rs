//! [`MemoryProvider`]: a complete in-process reference provider.
//!
//! It implements every operation of the [`Provider`] trait and declares every capability
//! ([`Capabilities::all`]), so it is what the gateway, the conformance suite and examples test
//! against. State lives in memory and is gone when the last clone of the provider is dropped.
//!
//! Functions really answer HTTP: each ready replica is an HTTP/1.1 server on `127.0.0.1:0`
//! emulating the classic watchdog in front of the function's command (`envProcess`, else
//! `envVars.fprocess`). `GET /_/health` answers `200 OK`; any other request runs an emulated
//! command (`cat`, `env`, `echo …`, `cat /var/openfaas/secrets/<name>`; anything else answers
//! 500) and writes the watchdog's `Forking fprocess.` and `Wrote <N> Bytes - Duration: <s>s`
//! lines to the function's log. Scaling up starts servers; scaling down or deleting stops
//! them, and their ports stop accepting before the call returns.
//!
//! The single in-process "node" satisfies every placement constraint; `limits.memory` caps the
//! request body a replica accepts; nothing is ever written, so a read-only root filesystem is
//! trivially honoured. `usage` reports no CPU and the bytes of log text kept.
//!
//! For tests and benchmarks of callers, [`MemoryProvider::set_endpoints`] points a function's
//! `resolve` and `wait_ready` at servers of the caller's own (a stalling port, a replica that
//! misbehaves on purpose, a trivial upstream) while everything else, readiness included, stays
//! the reference behaviour.
//!
//! # Layout
//! - `logs`: bounded ring buffer per function plus a broadcast for followers.
//! - `replica`: one replica's HTTP server.
//! - `watchdog`: the emulated commands.
//!
//! ```
//! use std::time::Duration;
//! use faas_core::memory::MemoryProvider;
//! use faas_core::{FunctionDeployment, Provider, ProviderExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> faas_core::Result<()> {
//! let provider = MemoryProvider::new();
//! let fd = FunctionDeployment::new("echo", "ghcr.io/openfaas/alpine:latest").with_env_process("cat");
//! let endpoints = provider.deploy_and_wait(fd, Duration::from_secs(5)).await?;
//! assert_eq!(endpoints[0].host, "127.0.0.1");
//! # Ok(())
//! # }
//! ```

mod logs;
mod replica;
mod watchdog;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use self::logs::LogBuffer;
use self::replica::{FunctionContext, Replica, SecretLookup};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    Capabilities, DEFAULT_NAMESPACE, Endpoint, FunctionDeployment, FunctionNamespace,
    FunctionStatus, FunctionUsage, LogRequest, ProviderInfo, ScaleRequest, Secret, SecretInfo,
    VersionInfo,
};
use crate::provider::{LogStream, Provider};
use crate::validate;

/// The `orchestration` a [`MemoryProvider`] reports.
pub const ORCHESTRATION: &str = "memory";
/// The `provider` name a [`MemoryProvider`] reports.
pub const PROVIDER_NAME: &str = "faas-memory";

/// Settings of a [`MemoryProvider`]; `MemoryConfig::default()` suits tests.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// Log lines kept per function (older ones are dropped). Default 1000.
    pub log_capacity: usize,
    /// How long a new replica takes to become ready. Default zero (ready at once).
    pub ready_delay: Duration,
    /// The largest request body a replica accepts. Default 16 MiB.
    pub max_body_bytes: usize,
    /// Capabilities reported by `info`. Default [`Capabilities::all`]; switch some off to test
    /// how callers handle a smaller provider (operations declared absent then fail
    /// with `Unsupported`).
    pub capabilities: Capabilities,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            log_capacity: 1000,
            ready_delay: Duration::ZERO,
            max_body_bytes: 16 * 1024 * 1024,
            capabilities: Capabilities::all(),
        }
    }
}

impl MemoryConfig {
    /// Sets [`MemoryConfig::log_capacity`].
    pub fn with_log_capacity(mut self, lines: usize) -> Self {
        self.log_capacity = lines;
        self
    }

    /// Sets [`MemoryConfig::ready_delay`].
    pub fn with_ready_delay(mut self, delay: Duration) -> Self {
        self.ready_delay = delay;
        self
    }

    /// Sets [`MemoryConfig::max_body_bytes`].
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets [`MemoryConfig::capabilities`].
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }
}

/// The in-process reference provider. Clones share the same state.
#[derive(Clone)]
pub struct MemoryProvider {
    inner: Arc<Inner>,
}

struct Inner {
    config: MemoryConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    namespaces: BTreeMap<String, FunctionNamespace>,
    /// Keyed by (namespace, name).
    secrets: BTreeMap<(String, String), Secret>,
    /// Keyed by (namespace, name).
    functions: BTreeMap<(String, String), Function>,
    /// Keyed by (namespace, name); see [`MemoryProvider::set_endpoints`]. Independent of
    /// `functions`: set before a deploy, kept across delete.
    endpoint_overrides: BTreeMap<(String, String), Vec<Endpoint>>,
    next_instance: u64,
}

struct Function {
    spec: watch::Sender<Arc<FunctionDeployment>>,
    created_at: DateTime<Utc>,
    desired: u64,
    replicas: Vec<Replica>,
    /// The ready endpoints; `wait_ready` waits on it. Dropped with the function.
    ready: watch::Sender<Vec<Endpoint>>,
    ctx: FunctionContext,
}

impl Function {
    fn publish_ready(&self) {
        let ready: Vec<Endpoint> = self
            .replicas
            .iter()
            .filter(|r| r.is_ready())
            .map(|r| r.endpoint.clone())
            .collect();
        self.ready.send_if_modified(|current| {
            let changed = *current != ready;
            if changed {
                current.clone_from(&ready);
            }
            changed
        });
    }

    fn status(&self) -> FunctionStatus {
        let spec = self.spec.borrow().clone();
        let mut status = FunctionStatus::from_deployment(&spec, &spec.namespace, self.created_at);
        status.replicas = self.desired;
        status.available_replicas = self.replicas.iter().filter(|r| r.is_ready()).count() as u64;
        status.usage = Some(FunctionUsage {
            cpu: 0.0,
            total_memory_bytes: self.ctx.logs.bytes() as f64,
        });
        status
    }
}

impl fmt::Debug for MemoryProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("MemoryProvider")
            .field("namespaces", &state.namespaces.len())
            .field("functions", &state.functions.len())
            .field("secrets", &state.secrets.len())
            .field("endpoint_overrides", &state.endpoint_overrides.len())
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Default for MemoryProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation below completes or fails before touching state, so a poisoned lock
        // still guards consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn resolve_ns(namespace: &str) -> &str {
    if namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        namespace
    }
}

fn key(namespace: &str, name: &str) -> (String, String) {
    (namespace.to_owned(), name.to_owned())
}

fn function_not_found(name: &str, namespace: &str) -> Error {
    Error::not_found(format!(
        "function {name:?} not found in namespace {namespace:?}"
    ))
}

impl State {
    fn require_namespace(&self, namespace: &str, field: &str) -> Result<()> {
        if self.namespaces.contains_key(namespace) {
            Ok(())
        } else {
            Err(Error::not_found(format!("namespace {namespace:?} not found")).with_field(field))
        }
    }

    fn require_secrets(&self, namespace: &str, secrets: &[String]) -> Result<()> {
        for (i, name) in secrets.iter().enumerate() {
            if !self.secrets.contains_key(&key(namespace, name)) {
                return Err(Error::not_found(format!(
                    "secret {name:?} not found in namespace {namespace:?}"
                ))
                .with_field(format!("secrets[{i}]")));
            }
        }
        Ok(())
    }

    fn function(&self, name: &str, namespace: &str) -> Result<&Function> {
        self.require_namespace(namespace, "namespace")?;
        self.functions
            .get(&key(namespace, name))
            .ok_or_else(|| function_not_found(name, namespace))
    }

    /// What `resolve` and `wait_ready` answer for a function whose ready endpoints are
    /// `ready`: nothing while none is ready, else its override if it has one.
    fn answer(&self, name: &str, namespace: &str, ready: &[Endpoint]) -> Vec<Endpoint> {
        if ready.is_empty() || self.endpoint_overrides.is_empty() {
            return ready.to_vec();
        }
        self.endpoint_overrides
            .get(&key(namespace, name))
            .map_or_else(|| ready.to_vec(), Clone::clone)
    }
}

impl MemoryProvider {
    /// A provider with the default settings and the default namespace `openfaas-fn`.
    pub fn new() -> Self {
        Self::with_config(MemoryConfig::default())
    }

    /// A provider with `config`.
    pub fn with_config(config: MemoryConfig) -> Self {
        let mut state = State::default();
        state.namespaces.insert(
            DEFAULT_NAMESPACE.to_owned(),
            FunctionNamespace::new(DEFAULT_NAMESPACE),
        );
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
            }),
        }
    }

    /// Appends a line to a function's log as if replica `instance` wrote it (for tests of log
    /// consumers). `NotFound` if the function does not exist.
    pub fn append_log(
        &self,
        name: &str,
        namespace: &str,
        instance: &str,
        text: &str,
    ) -> Result<()> {
        let namespace = resolve_ns(namespace);
        let state = self.inner.lock();
        state
            .function(name, namespace)?
            .ctx
            .logs
            .push(instance, text);
        Ok(())
    }

    /// Makes `resolve` and `wait_ready` of function `name` in `namespace` (`""` = the default
    /// namespace) answer `endpoints` instead of its replicas' own, so a test or benchmark can
    /// send the function's calls to servers of its own. Replaces any earlier override.
    ///
    /// Only what they answer changes, never whether or when they answer:
    /// - the function must exist: `resolve` and `wait_ready` of a function that is not deployed
    ///   are `NotFound` with or without an override;
    /// - `endpoints` stand in for the ready endpoints only while the function has at least one
    ///   ready replica. With none (scaled to zero, or within [`MemoryConfig::ready_delay`]),
    ///   `resolve` answers an empty list and `wait_ready` waits, times out or fails as it does
    ///   without an override, then answers `endpoints`. Callers' scale-from-zero paths run
    ///   unchanged. The replicas themselves still start, stop and serve as usual;
    /// - the override belongs to the name, not to one deployment: it may be set before the
    ///   function is deployed, and it outlives `delete` and applies again on a redeploy, until
    ///   [`MemoryProvider::clear_endpoints`].
    ///
    /// `InvalidInput` if `name` or `namespace` is not a valid name, or `endpoints` is empty
    /// (a ready function never resolves to nothing).
    pub fn set_endpoints(
        &self,
        name: &str,
        namespace: &str,
        endpoints: Vec<Endpoint>,
    ) -> Result<()> {
        validate::function_name("name", name)?;
        validate::namespace("namespace", namespace)?;
        if endpoints.is_empty() {
            return Err(Error::invalid(
                "endpoints",
                "an endpoint override needs at least one endpoint; use clear_endpoints to remove it",
            ));
        }
        let namespace = resolve_ns(namespace);
        let mut state = self.inner.lock();
        state
            .endpoint_overrides
            .insert(key(namespace, name), endpoints);
        Ok(())
    }

    /// Removes the override [`MemoryProvider::set_endpoints`] set for `name` in `namespace`
    /// (`""` = the default namespace), so the function resolves to its own replicas again.
    /// Returns the override removed, `None` if there was none.
    pub fn clear_endpoints(&self, name: &str, namespace: &str) -> Option<Vec<Endpoint>> {
        let namespace = resolve_ns(namespace);
        let mut state = self.inner.lock();
        state.endpoint_overrides.remove(&key(namespace, name))
    }

    fn require(&self, enabled: bool, what: &str) -> Result<()> {
        if enabled {
            Ok(())
        } else {
            Err(Error::unsupported(format!(
                "{what} is switched off in this MemoryProvider's capabilities"
            )))
        }
    }

    fn secret_lookup(&self, namespace: &str) -> SecretLookup {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let namespace = namespace.to_owned();
        Arc::new(move |name: &str| {
            let inner = weak.upgrade()?;
            let state = inner.lock();
            state
                .secrets
                .get(&key(&namespace, name))
                .map(|s| s.bytes().to_vec())
        })
    }

    /// Starts or stops replicas of `(namespace, name)` until they match the desired count.
    /// Returns the replicas to stop (after the lock is released).
    fn reconcile(&self, state: &mut State, namespace: &str, name: &str) -> Result<Vec<Replica>> {
        let k = key(namespace, name);
        let Some(function) = state.functions.get(&k) else {
            return Ok(Vec::new());
        };
        let desired = usize::try_from(function.desired).unwrap_or(usize::MAX);
        let have = function.replicas.len();
        let mut started = Vec::new();
        for _ in have..desired {
            state.next_instance += 1;
            let instance = format!("{name}-{}", state.next_instance);
            let Some(function) = state.functions.get(&k) else {
                break;
            };
            started.push(Replica::start(instance, function.ctx.clone())?);
        }
        let delay = self.inner.config.ready_delay;
        let Some(function) = state.functions.get_mut(&k) else {
            return Ok(Vec::new());
        };
        for replica in started {
            if delay.is_zero() {
                replica.set_ready();
            } else {
                self.mark_ready_later(namespace, name, &replica.instance, delay);
            }
            function.replicas.push(replica);
        }
        // Scale down newest first.
        let removed = if function.replicas.len() > desired {
            function.replicas.split_off(desired)
        } else {
            Vec::new()
        };
        function.publish_ready();
        Ok(removed)
    }

    fn mark_ready_later(&self, namespace: &str, name: &str, instance: &str, delay: Duration) {
        let weak = Arc::downgrade(&self.inner);
        let (k, instance) = (key(namespace, name), instance.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(inner) = weak.upgrade() else { return };
            let state = inner.lock();
            if let Some(function) = state.functions.get(&k)
                && let Some(replica) = function.replicas.iter().find(|r| r.instance == instance)
            {
                replica.set_ready();
                function.publish_ready();
            }
        });
    }

    async fn stop_all(replicas: Vec<Replica>) {
        for replica in replicas {
            replica.stop().await;
        }
    }
}

// === impl Provider for MemoryProvider ===

#[async_trait]
impl Provider for MemoryProvider {
    async fn info(&self) -> Result<ProviderInfo> {
        Ok(ProviderInfo {
            provider: PROVIDER_NAME.to_owned(),
            version: VersionInfo {
                commit_message: String::new(),
                sha: "memory".to_owned(),
                release: env!("CARGO_PKG_VERSION").to_owned(),
            },
            orchestration: ORCHESTRATION.to_owned(),
            default_namespace: DEFAULT_NAMESPACE.to_owned(),
            capabilities: self.inner.config.capabilities.clone(),
        })
    }

    async fn health(&self) -> Result<()> {
        Ok(())
    }

    async fn deploy(&self, deployment: FunctionDeployment) -> Result<()> {
        deployment.validate()?;
        let namespace = resolve_ns(&deployment.namespace).to_owned();
        let name = deployment.service.clone();
        let caps = &self.inner.config.capabilities;
        let min = deployment.min_replicas();
        if let Some(max) = caps.replicas_max.filter(|max| min > *max) {
            return Err(Error::invalid(
                "labels.com.openfaas.scale.min",
                format!("{min} replicas is more than this provider's maximum of {max}"),
            ));
        }
        let lookup = self.secret_lookup(&namespace);
        let removed = {
            let mut state = self.inner.lock();
            state.require_namespace(&namespace, "namespace")?;
            if !deployment.secrets.is_empty() {
                self.require(caps.secrets, "secrets")?;
            }
            state.require_secrets(&namespace, &deployment.secrets)?;
            let k = key(&namespace, &name);
            if state.functions.contains_key(&k) {
                return Err(Error::already_exists(format!(
                    "function {name:?} already exists in namespace {namespace:?}"
                )));
            }
            let mut spec = deployment;
            spec.namespace.clone_from(&namespace);
            let (spec_tx, spec_rx) = watch::channel(Arc::new(spec));
            let ctx = FunctionContext {
                spec: spec_rx,
                logs: Arc::new(LogBuffer::new(
                    &name,
                    &namespace,
                    self.inner.config.log_capacity,
                )),
                secrets: lookup,
                max_body_bytes: self.inner.config.max_body_bytes,
            };
            let function = Function {
                spec: spec_tx,
                created_at: Utc::now(),
                desired: min,
                replicas: Vec::new(),
                ready: watch::Sender::new(Vec::new()),
                ctx,
            };
            state.functions.insert(k.clone(), function);
            match self.reconcile(&mut state, &namespace, &name) {
                Ok(removed) => removed,
                Err(e) => {
                    // Leave nothing behind when a replica cannot start.
                    state.functions.remove(&k);
                    return Err(e);
                }
            }
        };
        Self::stop_all(removed).await;
        tracing::debug!(function = %name, namespace = %namespace, replicas = min, "deployed");
        Ok(())
    }

    async fn update(&self, deployment: FunctionDeployment) -> Result<()> {
        deployment.validate()?;
        let namespace = resolve_ns(&deployment.namespace).to_owned();
        let name = deployment.service.clone();
        let caps = &self.inner.config.capabilities;
        let removed = {
            let mut state = self.inner.lock();
            state.function(&name, &namespace)?;
            if !deployment.secrets.is_empty() {
                self.require(caps.secrets, "secrets")?;
            }
            state.require_secrets(&namespace, &deployment.secrets)?;
            let min = deployment.min_replicas();
            let Some(function) = state.functions.get_mut(&key(&namespace, &name)) else {
                return Err(function_not_found(&name, &namespace));
            };
            let mut spec = deployment;
            spec.namespace.clone_from(&namespace);
            // Replicas read the spec per request, so they serve the new one at once.
            function.spec.send_replace(Arc::new(spec));
            function.desired = function.desired.max(min);
            self.reconcile(&mut state, &namespace, &name)?
        };
        Self::stop_all(removed).await;
        Ok(())
    }

    async fn delete(&self, name: &str, namespace: &str) -> Result<()> {
        validate::function_name("name", name)?;
        validate::namespace("namespace", namespace)?;
        let namespace = resolve_ns(namespace);
        let function = {
            let mut state = self.inner.lock();
            state.function(name, namespace)?;
            state.functions.remove(&key(namespace, name))
        };
        let Some(mut function) = function else {
            return Err(function_not_found(name, namespace));
        };
        function.ctx.logs.close();
        let replicas = std::mem::take(&mut function.replicas);
        // Dropping the function drops its ready channel: waiters see NotFound.
        drop(function);
        Self::stop_all(replicas).await;
        Ok(())
    }

    async fn get(&self, name: &str, namespace: &str) -> Result<FunctionStatus> {
        validate::function_name("name", name)?;
        validate::namespace("namespace", namespace)?;
        let state = self.inner.lock();
        Ok(state.function(name, resolve_ns(namespace))?.status())
    }

    async fn list(&self, namespace: &str) -> Result<Vec<FunctionStatus>> {
        validate::namespace("namespace", namespace)?;
        let namespace = resolve_ns(namespace);
        let state = self.inner.lock();
        state.require_namespace(namespace, "namespace")?;
        // BTreeMap order is (namespace, name): sorted by name within the namespace.
        Ok(state
            .functions
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, f)| f.status())
            .collect())
    }

    async fn scale(&self, request: ScaleRequest) -> Result<()> {
        validate::scale_request(&request)?;
        let caps = &self.inner.config.capabilities;
        self.require(caps.scale, "scale")?;
        if request.replicas == 0 {
            self.require(caps.scale_can_zero, "scale to zero")?;
        }
        if let Some(max) = caps.replicas_max.filter(|max| request.replicas > *max) {
            return Err(Error::invalid(
                "replicas",
                format!(
                    "{} replicas is more than this provider's maximum of {max}",
                    request.replicas
                ),
            ));
        }
        let namespace = resolve_ns(&request.namespace);
        let name = &request.service_name;
        let removed = {
            let mut state = self.inner.lock();
            state.function(name, namespace)?;
            if let Some(function) = state.functions.get_mut(&key(namespace, name)) {
                function.desired = request.replicas;
            }
            self.reconcile(&mut state, namespace, name)?
        };
        Self::stop_all(removed).await;
        Ok(())
    }

    async fn resolve(&self, name: &str, namespace: &str) -> Result<Vec<Endpoint>> {
        validate::function_name("name", name)?;
        validate::namespace("namespace", namespace)?;
        let namespace = resolve_ns(namespace);
        let state = self.inner.lock();
        let ready = state.function(name, namespace)?.ready.borrow();
        Ok(state.answer(name, namespace, &ready))
    }

    async fn wait_ready(
        &self,
        name: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<Vec<Endpoint>> {
        validate::function_name("name", name)?;
        validate::namespace("namespace", namespace)?;
        let namespace = resolve_ns(namespace);
        let mut ready = {
            let state = self.inner.lock();
            state.function(name, namespace)?.ready.subscribe()
        };
        let ready = match tokio::time::timeout(timeout, ready.wait_for(|eps| !eps.is_empty())).await
        {
            Ok(Ok(endpoints)) => endpoints.clone(),
            Ok(Err(_)) => {
                return Err(Error::not_found(format!(
                    "function {name:?} was deleted while waiting for it to become ready"
                )));
            }
            Err(_) => {
                return Err(Error::timeout(format!(
                    "function {name:?} had no ready replica within {timeout:?}"
                )));
            }
        };
        // The channel's read guard is gone by now: `publish_ready` sends under the state lock,
        // so holding both here could deadlock.
        Ok(self.inner.lock().answer(name, namespace, &ready))
    }

    async fn logs(&self, request: LogRequest) -> Result<LogStream> {
        validate::function_name("name", &request.name)?;
        validate::namespace("namespace", &request.namespace)?;
        let caps = &self.inner.config.capabilities;
        self.require(caps.logs, "logs")?;
        if request.follow {
            self.require(caps.logs_can_follow, "logs with follow")?;
        }
        let namespace = resolve_ns(&request.namespace);
        let state = self.inner.lock();
        Ok(state
            .function(&request.name, namespace)?
            .ctx
            .logs
            .stream(&request))
    }

    async fn list_secrets(&self, namespace: &str) -> Result<Vec<SecretInfo>> {
        validate::namespace("namespace", namespace)?;
        self.require(self.inner.config.capabilities.secrets, "secrets")?;
        let namespace = resolve_ns(namespace);
        let state = self.inner.lock();
        state.require_namespace(namespace, "namespace")?;
        Ok(state
            .secrets
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, s)| s.info())
            .collect())
    }

    async fn create_secret(&self, secret: Secret) -> Result<()> {
        validate::secret(&secret)?;
        self.require(self.inner.config.capabilities.secrets, "secrets")?;
        let namespace = resolve_ns(&secret.namespace).to_owned();
        let mut state = self.inner.lock();
        state.require_namespace(&namespace, "namespace")?;
        let k = key(&namespace, &secret.name);
        if state.secrets.contains_key(&k) {
            return Err(Error::already_exists(format!(
                "secret {:?} already exists in namespace {namespace:?}",
                secret.name
            )));
        }
        let mut secret = secret;
        secret.namespace = namespace;
        state.secrets.insert(k, secret);
        Ok(())
    }

    async fn update_secret(&self, secret: Secret) -> Result<()> {
        validate::secret(&secret)?;
        let caps = &self.inner.config.capabilities;
        self.require(caps.secrets && caps.secrets_can_update, "secret update")?;
        let namespace = resolve_ns(&secret.namespace).to_owned();
        let mut state = self.inner.lock();
        state.require_namespace(&namespace, "namespace")?;
        let Some(stored) = state.secrets.get_mut(&key(&namespace, &secret.name)) else {
            return Err(Error::not_found(format!(
                "secret {:?} not found in namespace {namespace:?}",
                secret.name
            )));
        };
        stored.value = secret.value;
        stored.raw_value = secret.raw_value;
        Ok(())
    }

    async fn delete_secret(&self, name: &str, namespace: &str) -> Result<()> {
        validate::secret_name("name", name)?;
        validate::namespace("namespace", namespace)?;
        self.require(self.inner.config.capabilities.secrets, "secrets")?;
        let namespace = resolve_ns(namespace);
        let mut state = self.inner.lock();
        state.require_namespace(namespace, "namespace")?;
        match state.secrets.remove(&key(namespace, name)) {
            Some(_) => Ok(()),
            None => Err(Error::not_found(format!(
                "secret {name:?} not found in namespace {namespace:?}"
            ))),
        }
    }

    async fn list_namespaces(&self) -> Result<Vec<String>> {
        let state = self.inner.lock();
        Ok(state.namespaces.keys().cloned().collect())
    }

    async fn get_namespace(&self, name: &str) -> Result<FunctionNamespace> {
        validate::namespace("name", name)?;
        let name = resolve_ns(name);
        let state = self.inner.lock();
        state
            .namespaces
            .get(name)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("namespace {name:?} not found")))
    }

    async fn create_namespace(&self, namespace: FunctionNamespace) -> Result<()> {
        validate::function_namespace(&namespace)?;
        let caps = &self.inner.config.capabilities;
        self.require(
            caps.namespaces && caps.namespaces_can_mutate,
            "namespace create",
        )?;
        let mut state = self.inner.lock();
        if state.namespaces.contains_key(&namespace.name) {
            return Err(Error::already_exists(format!(
                "namespace {:?} already exists",
                namespace.name
            )));
        }
        state.namespaces.insert(namespace.name.clone(), namespace);
        Ok(())
    }

    async fn update_namespace(&self, namespace: FunctionNamespace) -> Result<()> {
        validate::function_namespace(&namespace)?;
        let caps = &self.inner.config.capabilities;
        self.require(
            caps.namespaces && caps.namespaces_can_mutate,
            "namespace update",
        )?;
        let mut state = self.inner.lock();
        match state.namespaces.get_mut(&namespace.name) {
            Some(stored) => {
                *stored = namespace;
                Ok(())
            }
            None => Err(Error::not_found(format!(
                "namespace {:?} not found",
                namespace.name
            ))),
        }
    }

    async fn delete_namespace(&self, name: &str) -> Result<()> {
        validate::namespace("name", name)?;
        let caps = &self.inner.config.capabilities;
        self.require(
            caps.namespaces && caps.namespaces_can_mutate,
            "namespace delete",
        )?;
        let name = resolve_ns(name);
        let mut state = self.inner.lock();
        if !state.namespaces.contains_key(name) {
            return Err(Error::not_found(format!("namespace {name:?} not found")));
        }
        if name == DEFAULT_NAMESPACE {
            return Err(Error::new(
                ErrorKind::Conflict,
                "the default namespace cannot be deleted",
            )
            .with_field("name"));
        }
        let functions = state.functions.keys().filter(|(ns, _)| ns == name).count();
        let secrets = state.secrets.keys().filter(|(ns, _)| ns == name).count();
        if functions + secrets > 0 {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "namespace {name:?} still holds {functions} function(s) and {secrets} secret(s)"
                ),
            )
            .with_field("name"));
        }
        state.namespaces.remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
