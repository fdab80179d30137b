//! [`LocalProvider`]: the [`Provider`] implementation that ties state, secrets, logs and
//! replicas together.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use faas_core::{
    Capabilities, DEFAULT_NAMESPACE, Endpoint, Error, ErrorKind, FunctionDeployment,
    FunctionNamespace, FunctionStatus, LogRequest, LogStream, Provider, ProviderInfo, Result,
    ScaleRequest, Secret, SecretInfo, VersionInfo, validate,
};

use crate::cgroup::Cgroups;
use crate::config::LocalConfig;
use crate::error::LocalError;
use crate::function::Function;
use crate::logs::LogStore;
use crate::replica::{Replica, ReplicaEnv, watchdog_config};
use crate::secrets::SecretStore;
use crate::state::{FunctionRecord, State, StateFile};
use crate::{command, fsutil, isolate};

type Key = (String, String);

/// Functions as local processes, each replica an in-process watchdog on `127.0.0.1`.
///
/// Build it with [`LocalProvider::new`]; it restores the functions recorded in the data
/// directory. Stop it with [`LocalProvider::shutdown`] (dropping it also kills every function
/// process, without waiting for in-flight calls).
pub struct LocalProvider {
    config: LocalConfig,
    isolated: bool,
    cgroups: Cgroups,
    state_file: StateFile,
    state: Mutex<State>,
    secrets: SecretStore,
    logs: LogStore,
    functions: Mutex<HashMap<Key, Arc<Function>>>,
    seq: AtomicU64,
    stopped: AtomicBool,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("data_dir", &self.config.data_dir)
            .field("isolated", &self.isolated)
            .field("cgroups", &self.cgroups)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn conflict(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Conflict, message)
}

fn ns_of(namespace: &str) -> &str {
    if namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        namespace
    }
}

impl LocalProvider {
    /// Opens (or creates) the data directory, detects what isolation the OS allows, and
    /// restarts the functions recorded there.
    pub async fn new(config: LocalConfig) -> std::result::Result<Self, LocalError> {
        fsutil::private_dir(&config.data_dir)?;
        fsutil::private_dir(&config.runtime_dir)?;
        let replicas_dir = config.runtime_dir.join("replicas");
        // Scratch directories of a previous run are stale: their processes are gone.
        let _ = std::fs::remove_dir_all(&replicas_dir);
        fsutil::private_dir(&replicas_dir)?;

        // First, so a wrong or missing secrets key stops the start before anything runs.
        let secrets = SecretStore::open(&config.data_dir, config.secrets_key_file.as_deref())?;
        let isolated = config.isolation && Self::probe_isolation(&config).await;
        let cgroups = if config.isolation {
            Cgroups::detect(&config.data_dir)
        } else {
            Cgroups::None
        };
        cgroups.reap_stale();
        tracing::info!(isolated, ?cgroups, data_dir = %config.data_dir.display(), "local provider starting");

        let state_file = StateFile::new(&config.data_dir);
        let state = state_file.load()?;
        let provider = Self {
            secrets,
            logs: LogStore::new(
                &config.data_dir,
                config.log_ring_lines,
                config.log_file_max_bytes,
                config.log_line_max_bytes,
            )?,
            isolated,
            cgroups,
            state_file,
            state: Mutex::new(state.clone()),
            functions: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(u64::from(Utc::now().timestamp_subsec_nanos())),
            stopped: AtomicBool::new(false),
            config,
        };
        for (ns, fns) in &state.functions {
            for (name, record) in fns {
                if let Err(e) = provider.restore(ns, name, record) {
                    tracing::error!(namespace = %ns, function = %name, error = %e, "restoring a function");
                }
            }
        }
        Ok(provider)
    }

    async fn probe_isolation(config: &LocalConfig) -> bool {
        if std::fs::create_dir_all(isolate::SECRETS_DIR).is_err() {
            return false;
        }
        let Some(true_bin) = command::resolve("true", &config.function_path) else {
            return false;
        };
        let scratch = config.runtime_dir.join("replicas");
        isolate::probe(&true_bin, &scratch).await
    }

    fn restore(&self, ns: &str, name: &str, record: &FunctionRecord) -> Result<()> {
        let mut spec = record.deployment.clone();
        spec.namespace = ns.to_owned();
        spec.service = name.to_owned();
        let log = self.logs.open(ns, name).map_err(Error::from)?;
        let f = Arc::new(Function::new(
            spec.clone(),
            record.created_at,
            record.replicas,
            log,
        ));
        lock(&self.functions).insert((ns.to_owned(), name.to_owned()), f.clone());
        let started = self.start_replicas(&f, &spec, record.replicas)?;
        f.add(started);
        Ok(())
    }

    /// Whether function processes run in their own mount namespace (secrets at
    /// `/var/openfaas/secrets`, private `/tmp`). When `false`, the fallback is in use: secrets
    /// are files in a per-replica directory named by the `secret_mount_path` variable, `/tmp`
    /// is shared, and `TMPDIR`/`HOME` point at a per-replica directory.
    pub fn isolated(&self) -> bool {
        self.isolated
    }

    /// Whether memory and CPU limits are enforced through cgroups.
    pub fn limits_enforced(&self) -> bool {
        self.cgroups.enforced()
    }

    /// What `info().orchestration` reports: `process`, then in parentheses whether replicas
    /// run isolated and how:
    ///
    /// - `process (isolated: mount namespace, cgroup v2)` (or `cgroup v1`): each function
    ///   process has its own mount namespace (secrets at `/var/openfaas/secrets`, private
    ///   `/tmp`) and its replica's cgroup enforces `limits`;
    /// - `process (fallback: no mount namespace, no cgroup limits)`: the documented fallback
    ///   (secrets as 0600 files named by `secret_mount_path`, `TMPDIR`/`HOME` per replica,
    ///   limits recorded but not enforced);
    /// - `process (partly isolated: …)` when only one of the two is available, e.g.
    ///   `process (partly isolated: mount namespace, no cgroup limits)`.
    pub fn orchestration(&self) -> String {
        let mounts = if self.isolated {
            "mount namespace"
        } else {
            "no mount namespace"
        };
        let limits = self.cgroups.describe().unwrap_or("no cgroup limits");
        let how = match (self.isolated, self.cgroups.enforced()) {
            (true, true) => "isolated",
            (false, false) => "fallback",
            _ => "partly isolated",
        };
        format!("process ({how}: {mounts}, {limits})")
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// Stops every replica (in-flight calls drain for up to `stop_timeout`) and kills every
    /// function process. The recorded state is kept: a new provider on the same data directory
    /// restores the functions. Afterwards `health` reports `Unavailable`.
    pub async fn shutdown(&self) {
        self.stopped.store(true, Ordering::Release);
        let functions: Vec<Arc<Function>> = lock(&self.functions).drain().map(|(_, f)| f).collect();
        let grace = self.config.stop_timeout;
        futures::future::join_all(functions.into_iter().map(|f| async move {
            let _ops = f.ops.lock().await;
            f.mark_deleted();
            let all = f.take_last(usize::MAX);
            futures::future::join_all(all.into_iter().map(|r| r.stop(grace))).await;
        }))
        .await;
        self.cgroups.remove_subtree();
    }

    fn check_running(&self) -> Result<()> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(Error::unavailable("the local provider is shut down"));
        }
        Ok(())
    }

    fn namespace_exists(&self, ns: &str) -> Result<()> {
        if lock(&self.state).namespaces.contains_key(ns) {
            Ok(())
        } else {
            Err(Error::not_found(format!("namespace {ns} not found")).with_field("namespace"))
        }
    }

    fn function(&self, name: &str, ns: &str) -> Result<Arc<Function>> {
        lock(&self.functions)
            .get(&(ns.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| Error::not_found(format!("function {name} not found in namespace {ns}")))
    }

    /// Changes the recorded state and saves it; the in-memory state changes only if the save
    /// succeeds.
    fn update_state(&self, change: impl FnOnce(&mut State) -> Result<()>) -> Result<()> {
        let mut state = lock(&self.state);
        let mut next = state.clone();
        change(&mut next)?;
        self.state_file.save(&next).map_err(Error::from)?;
        *state = next;
        Ok(())
    }

    fn env(&self) -> ReplicaEnv<'_> {
        ReplicaEnv {
            runtime_dir: &self.config.runtime_dir,
            function_path: &self.config.function_path,
            isolated: self.isolated,
            cgroups: &self.cgroups,
            log_line_max: self.config.log_line_max_bytes,
        }
    }

    fn start_replicas(
        &self,
        f: &Function,
        spec: &FunctionDeployment,
        n: u64,
    ) -> Result<Vec<Replica>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let secrets = self
            .secrets
            .load_many(&f.namespace, &spec.secrets)
            .map_err(Error::from)?;
        let env = self.env();
        let mut out = Vec::new();
        for _ in 0..n {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let instance = format!("{}-{:08x}", f.name, seq & 0xffff_ffff);
            out.push(Replica::start(
                &env,
                spec,
                instance,
                &secrets,
                f.log.clone(),
            )?);
        }
        Ok(out)
    }

    /// Validates a deployment for this provider: the common rules, the namespace, the
    /// command, the watchdog settings in `envVars`, the secrets.
    fn check_deployment(&self, d: &FunctionDeployment) -> Result<FunctionDeployment> {
        d.validate()?;
        let mut spec = d.clone();
        spec.namespace = ns_of(&d.namespace).to_owned();
        self.namespace_exists(&spec.namespace)?;
        let path = spec
            .env_vars
            .get("PATH")
            .cloned()
            .unwrap_or_else(|| self.config.function_path.clone());
        command::check(&spec, &path, self.isolated)?;
        watchdog_config(&spec, 8082)?;
        for (i, s) in spec.secrets.iter().enumerate() {
            if !self.secrets.exists(&spec.namespace, s) {
                return Err(Error::not_found(format!(
                    "secret {s} not found in namespace {}",
                    spec.namespace
                ))
                .with_field(format!("secrets[{i}]")));
            }
        }
        Ok(spec)
    }

    async fn stop_all(&self, replicas: Vec<Replica>) {
        let grace = self.config.stop_timeout;
        futures::future::join_all(replicas.into_iter().map(|r| r.stop(grace))).await;
    }
}

impl Drop for LocalProvider {
    fn drop(&mut self) {
        let functions: Vec<Arc<Function>> = lock(&self.functions).drain().map(|(_, f)| f).collect();
        for f in &functions {
            f.kill_all_now();
        }
        // The killed processes leave their cgroups within moments; removal is best effort.
        for _ in 0..250 {
            if functions.iter().all(|f| f.remove_cgroups()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.cgroups.remove_subtree();
    }
}

#[async_trait]
impl Provider for LocalProvider {
    async fn info(&self) -> Result<ProviderInfo> {
        let mut capabilities = Capabilities::default();
        capabilities.scale = true;
        capabilities.scale_can_zero = true;
        capabilities.replicas_max = Some(self.config.replicas_max);
        capabilities.secrets = true;
        capabilities.secrets_can_update = true;
        capabilities.namespaces = true;
        capabilities.namespaces_can_mutate = true;
        capabilities.logs = true;
        capabilities.logs_can_follow = true;
        capabilities.deploy_with_limits = self.cgroups.enforced();
        Ok(ProviderInfo {
            provider: "faas-local".to_owned(),
            version: VersionInfo {
                release: env!("CARGO_PKG_VERSION").to_owned(),
                ..VersionInfo::default()
            },
            orchestration: self.orchestration(),
            default_namespace: DEFAULT_NAMESPACE.to_owned(),
            capabilities,
        })
    }

    async fn health(&self) -> Result<()> {
        self.check_running()
    }

    async fn deploy(&self, deployment: FunctionDeployment) -> Result<()> {
        self.check_running()?;
        let spec = self.check_deployment(&deployment)?;
        let (ns, name) = (spec.namespace.clone(), spec.service.clone());
        let replicas = spec.min_replicas();
        let created_at = Utc::now();
        let f = {
            let mut functions = lock(&self.functions);
            let key = (ns.clone(), name.clone());
            if functions.contains_key(&key) {
                return Err(Error::already_exists(format!(
                    "function {name} already exists in namespace {ns}"
                ))
                .with_field("service"));
            }
            let record = FunctionRecord {
                deployment: spec.clone(),
                created_at,
                replicas,
            };
            self.update_state(|s| {
                s.functions
                    .entry(ns.clone())
                    .or_default()
                    .insert(name.clone(), record);
                Ok(())
            })?;
            let log = self.logs.open(&ns, &name).map_err(Error::from)?;
            let f = Arc::new(Function::new(spec.clone(), created_at, replicas, log));
            functions.insert(key, f.clone());
            f
        };
        let _ops = f.ops.lock().await;
        let started = match self.start_replicas(&f, &spec, replicas) {
            Ok(started) => started,
            Err(e) => {
                // Nothing changes when a deploy fails: forget the function again.
                lock(&self.functions).remove(&(ns.clone(), name.clone()));
                f.mark_deleted();
                let _ = self.update_state(|s| {
                    if let Some(fns) = s.functions.get_mut(&ns) {
                        fns.remove(&name);
                    }
                    Ok(())
                });
                self.logs.remove(&ns, &name);
                return Err(e);
            }
        };
        f.add(started);
        tracing::info!(function = %name, namespace = %ns, replicas, "deployed");
        Ok(())
    }

    async fn update(&self, deployment: FunctionDeployment) -> Result<()> {
        self.check_running()?;
        let spec = self.check_deployment(&deployment)?;
        let (ns, name) = (spec.namespace.clone(), spec.service.clone());
        let f = self.function(&name, &ns)?;
        let _ops = f.ops.lock().await;
        let gone = || Error::not_found(format!("function {name} not found in namespace {ns}"));
        if f.is_deleted() {
            return Err(gone());
        }
        let current = f.desired();
        let desired = if current == 0 {
            0
        } else {
            current.max(spec.min_replicas())
        };
        // Rolling: the new replicas start beside the old ones, which keep serving. Only once
        // every new replica is ready is the new spec recorded and are the old replicas stopped;
        // otherwise the new ones are stopped and nothing changes (spec, state, old replicas).
        let new = self.start_replicas(&f, &spec, desired)?;
        let ids: Vec<String> = new.iter().map(|r| r.instance.clone()).collect();
        f.add(new);
        let timeout = self.config.ready_timeout;
        let not_ready = if ids.is_empty() {
            0
        } else {
            f.wait_all_ready(&ids, timeout).await
        };
        let outcome = if f.is_deleted() {
            Err(gone())
        } else if not_ready > 0 {
            Err(Error::timeout(format!(
                "update of function {name} in namespace {ns} rolled back: {not_ready} of {} new \
                 replicas not ready after {timeout:?} (see the function's logs); the previous \
                 deployment keeps serving",
                ids.len()
            )))
        } else {
            let record = FunctionRecord {
                deployment: spec.clone(),
                created_at: f.created_at,
                replicas: desired,
            };
            // Replace the record only if it is still there (a delete may have removed it).
            self.update_state(
                |s| match s.functions.get_mut(&ns).and_then(|m| m.get_mut(&name)) {
                    Some(r) => {
                        *r = record;
                        Ok(())
                    }
                    None => Err(gone()),
                },
            )
        };
        if let Err(e) = outcome {
            let failed = f.take(&ids);
            self.stop_all(failed).await;
            tracing::warn!(function = %name, namespace = %ns, error = %e, "update rolled back");
            return Err(e);
        }
        f.set_spec(spec);
        f.set_desired(desired);
        let old = f.take_except(&ids);
        self.stop_all(old).await;
        tracing::info!(function = %name, namespace = %ns, "updated");
        Ok(())
    }

    async fn delete(&self, name: &str, namespace: &str) -> Result<()> {
        let ns = ns_of(namespace);
        validate::function_name("functionName", name)?;
        self.namespace_exists(ns)?;
        let f = {
            let mut functions = lock(&self.functions);
            let key = (ns.to_owned(), name.to_owned());
            if !functions.contains_key(&key) {
                return Err(Error::not_found(format!(
                    "function {name} not found in namespace {ns}"
                )));
            }
            self.update_state(|s| {
                if let Some(fns) = s.functions.get_mut(ns) {
                    fns.remove(name);
                    if fns.is_empty() {
                        s.functions.remove(ns);
                    }
                }
                Ok(())
            })?;
            functions.remove(&key)
        };
        if let Some(f) = f {
            f.mark_deleted();
            let _ops = f.ops.lock().await;
            let all = f.take_last(usize::MAX);
            self.stop_all(all).await;
        }
        self.logs.remove(ns, name);
        tracing::info!(function = %name, namespace = %ns, "deleted");
        Ok(())
    }

    async fn get(&self, name: &str, namespace: &str) -> Result<FunctionStatus> {
        let ns = ns_of(namespace);
        self.namespace_exists(ns)?;
        Ok(self.function(name, ns)?.status())
    }

    async fn list(&self, namespace: &str) -> Result<Vec<FunctionStatus>> {
        let ns = ns_of(namespace);
        self.namespace_exists(ns)?;
        let mut out: Vec<FunctionStatus> = lock(&self.functions)
            .values()
            .filter(|f| f.namespace == ns)
            .map(|f| f.status())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn scale(&self, request: ScaleRequest) -> Result<()> {
        self.check_running()?;
        validate::scale_request(&request)?;
        if request.replicas > self.config.replicas_max {
            return Err(Error::invalid(
                "replicas",
                format!("at most {} replicas", self.config.replicas_max),
            ));
        }
        let ns = ns_of(&request.namespace).to_owned();
        self.namespace_exists(&ns)?;
        let f = self.function(&request.service_name, &ns)?;
        let _ops = f.ops.lock().await;
        if f.is_deleted() {
            return Err(Error::not_found(format!(
                "function {} not found",
                request.service_name
            )));
        }
        let n = request.replicas;
        if f.desired() != n {
            self.update_state(|s| {
                if let Some(r) = s
                    .functions
                    .get_mut(&ns)
                    .and_then(|m| m.get_mut(&request.service_name))
                {
                    r.replicas = n;
                }
                Ok(())
            })?;
            f.set_desired(n);
        }
        let running = f.running() as u64;
        if n > running {
            let started = self.start_replicas(&f, &f.spec(), n - running)?;
            f.add(started);
        } else if n < running {
            let extra = f.take_last(usize::try_from(running - n).unwrap_or(usize::MAX));
            self.stop_all(extra).await;
        }
        Ok(())
    }

    async fn resolve(&self, name: &str, namespace: &str) -> Result<Vec<Endpoint>> {
        let ns = ns_of(namespace);
        self.namespace_exists(ns)?;
        Ok(self.function(name, ns)?.ready_endpoints())
    }

    async fn wait_ready(
        &self,
        name: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<Vec<Endpoint>> {
        let ns = ns_of(namespace);
        self.namespace_exists(ns)?;
        self.function(name, ns)?.wait_ready(timeout).await
    }

    async fn logs(&self, request: LogRequest) -> Result<LogStream> {
        let ns = ns_of(&request.namespace).to_owned();
        self.namespace_exists(&ns)?;
        let f = self.function(&request.name, &ns)?;
        Ok(f.log.stream(&request))
    }

    async fn list_secrets(&self, namespace: &str) -> Result<Vec<SecretInfo>> {
        let ns = ns_of(namespace);
        self.namespace_exists(ns)?;
        Ok(self
            .secrets
            .list(ns)
            .map_err(Error::from)?
            .into_iter()
            .map(|name| SecretInfo {
                name,
                namespace: ns.to_owned(),
            })
            .collect())
    }

    async fn create_secret(&self, secret: Secret) -> Result<()> {
        validate::secret(&secret)?;
        let ns = ns_of(&secret.namespace);
        self.namespace_exists(ns)?;
        let _state = lock(&self.state);
        if self.secrets.exists(ns, &secret.name) {
            return Err(Error::already_exists(format!(
                "secret {} already exists in namespace {ns}",
                secret.name
            ))
            .with_field("name"));
        }
        self.secrets
            .put(ns, &secret.name, secret.bytes())
            .map_err(Error::from)
    }

    async fn update_secret(&self, secret: Secret) -> Result<()> {
        validate::secret(&secret)?;
        let ns = ns_of(&secret.namespace);
        self.namespace_exists(ns)?;
        let _state = lock(&self.state);
        if !self.secrets.exists(ns, &secret.name) {
            return Err(Error::not_found(format!(
                "secret {} not found in namespace {ns}",
                secret.name
            )));
        }
        self.secrets
            .put(ns, &secret.name, secret.bytes())
            .map_err(Error::from)
    }

    async fn delete_secret(&self, name: &str, namespace: &str) -> Result<()> {
        validate::secret_name("name", name)?;
        let ns = ns_of(namespace);
        self.namespace_exists(ns)?;
        let _state = lock(&self.state);
        if self.secrets.delete(ns, name).map_err(Error::from)? {
            Ok(())
        } else {
            Err(Error::not_found(format!(
                "secret {name} not found in namespace {ns}"
            )))
        }
    }

    async fn list_namespaces(&self) -> Result<Vec<String>> {
        Ok(lock(&self.state).namespaces.keys().cloned().collect())
    }

    async fn get_namespace(&self, name: &str) -> Result<FunctionNamespace> {
        lock(&self.state)
            .namespaces
            .get(ns_of(name))
            .cloned()
            .ok_or_else(|| Error::not_found(format!("namespace {name} not found")))
    }

    async fn create_namespace(&self, namespace: FunctionNamespace) -> Result<()> {
        validate::function_namespace(&namespace)?;
        self.update_state(|s| {
            if s.namespaces.contains_key(&namespace.name) {
                return Err(Error::already_exists(format!(
                    "namespace {} already exists",
                    namespace.name
                ))
                .with_field("name"));
            }
            s.namespaces
                .insert(namespace.name.clone(), namespace.clone());
            Ok(())
        })
    }

    async fn update_namespace(&self, namespace: FunctionNamespace) -> Result<()> {
        validate::function_namespace(&namespace)?;
        self.update_state(|s| match s.namespaces.get_mut(&namespace.name) {
            Some(existing) => {
                *existing = namespace.clone();
                Ok(())
            }
            None => Err(Error::not_found(format!(
                "namespace {} not found",
                namespace.name
            ))),
        })
    }

    async fn delete_namespace(&self, name: &str) -> Result<()> {
        validate::namespace("name", name)?;
        if name == DEFAULT_NAMESPACE {
            return Err(conflict(format!(
                "the default namespace {name} cannot be deleted"
            )));
        }
        let has_secrets = !self.secrets.list(name).map_err(Error::from)?.is_empty();
        self.update_state(|s| {
            if !s.namespaces.contains_key(name) {
                return Err(Error::not_found(format!("namespace {name} not found")));
            }
            if s.functions.get(name).is_some_and(|f| !f.is_empty()) || has_secrets {
                return Err(conflict(format!(
                    "namespace {name} still holds functions or secrets"
                )));
            }
            s.namespaces.remove(name);
            Ok(())
        })?;
        self.secrets.remove_namespace(name);
        Ok(())
    }
}
