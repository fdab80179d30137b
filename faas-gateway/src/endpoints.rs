//! Where a function's calls go: a per-function cache of ready endpoints, least-in-flight
//! balancing, eviction of failing replicas and scale from zero.
//!
//! The request path takes no lock of its own: the cache is a sharded [`DashMap`] of
//! per-function [`FunctionEntry`]s, each holding an [`ArcSwap`] snapshot of its replicas whose
//! in-flight counts are atomics. A refresh (TTL expired, replica evicted, function at zero)
//! is done by one caller per function under that function's async mutex; callers that find a
//! usable stale snapshot meanwhile keep using it, and callers with nothing to use wait for the
//! refresh, so a cold function is scaled up once however many calls arrive together.
//! Entries exist only for functions the provider resolved, so made-up names add nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use faas_core::{DynProvider, Endpoint, ErrorKind, ScaleRequest, scale_min};
use http::HeaderValue;
use http::uri::Authority;

use crate::error::GatewayError;
use crate::metrics::{FunctionMetrics, Metrics};
use crate::upstream::{PoolSettings, UpstreamPool};

/// One ready replica with its live in-flight count.
#[derive(Debug)]
pub struct Replica {
    endpoint: Endpoint,
    authority: Authority,
    host_header: HeaderValue,
    pool: UpstreamPool,
    in_flight: AtomicUsize,
    /// The most calls in flight at once since the last sweep: how many idle connections the
    /// sweep keeps.
    peak_in_flight: AtomicUsize,
    evicted: AtomicBool,
}

impl Replica {
    fn new(endpoint: Endpoint, pool: PoolSettings) -> Option<Self> {
        let authority = Authority::try_from(endpoint.authority()).ok()?;
        let host_header = HeaderValue::from_str(authority.as_str()).ok()?;
        Some(Self {
            pool: UpstreamPool::new(authority.as_str().to_owned(), pool),
            endpoint,
            authority,
            host_header,
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
        })
    }

    /// The replica's `host:port`.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The replica's `host:port` as a `Host` header value.
    pub fn host_header(&self) -> &HeaderValue {
        &self.host_header
    }

    /// The replica's pooled connections.
    pub fn pool(&self) -> &UpstreamPool {
        &self.pool
    }

    /// The endpoint as the provider resolved it.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// A claim on a replica for one call: counts as in flight until dropped.
#[derive(Debug)]
pub struct Lease {
    replica: Arc<Replica>,
}

impl Lease {
    /// The leased replica.
    pub fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.replica.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Snapshot {
    /// When the provider answered; `None` forces a refresh.
    fetched: Option<Instant>,
    replicas: Vec<Arc<Replica>>,
}

/// The cached state of one existing function.
#[derive(Debug)]
pub struct FunctionEntry {
    name: String,
    namespace: String,
    label: String,
    metrics: FunctionMetrics,
    snapshot: ArcSwap<Snapshot>,
    refresh: tokio::sync::Mutex<()>,
    next: AtomicUsize,
    pool: PoolSettings,
}

impl FunctionEntry {
    /// The function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `name.namespace`: the metric label and log name.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its metric handles.
    pub fn metrics(&self) -> &FunctionMetrics {
        &self.metrics
    }

    /// Picks the live replica with the fewest calls in flight (ties rotate), if the snapshot
    /// has one and is fresh enough (`ttl`), or any live one when `allow_stale`.
    fn pick(&self, ttl: Duration, allow_stale: bool) -> Option<Lease> {
        let snap = self.snapshot.load();
        let fresh = snap.fetched.is_some_and(|t| t.elapsed() < ttl);
        if !(fresh || allow_stale) || snap.replicas.is_empty() {
            return None;
        }
        let n = snap.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut best: Option<(&Arc<Replica>, usize)> = None;
        for i in 0..n {
            let r = &snap.replicas[(start + i) % n];
            if r.evicted.load(Ordering::Relaxed) {
                continue;
            }
            let load = r.in_flight.load(Ordering::Relaxed);
            if best.is_none_or(|(_, b)| load < b) {
                best = Some((r, load));
            }
        }
        let (replica, _) = best?;
        let now = replica.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        // Read first: the shared line is written only when the peak rises.
        if now > replica.peak_in_flight.load(Ordering::Relaxed) {
            replica.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        }
        Some(Lease {
            replica: Arc::clone(replica),
        })
    }

    /// Replaces the snapshot with `endpoints`, keeping the in-flight counts of replicas that
    /// are still there.
    fn store(&self, endpoints: Vec<Endpoint>) {
        let old = self.snapshot.load();
        let replicas = endpoints
            .into_iter()
            .filter_map(|e| {
                let kept = old.replicas.iter().find(|r| {
                    r.endpoint.host == e.host
                        && r.endpoint.port == e.port
                        && !r.evicted.load(Ordering::Relaxed)
                });
                match kept {
                    Some(r) => Some(Arc::clone(r)),
                    None => Replica::new(e, self.pool).map(Arc::new),
                }
            })
            .collect();
        self.snapshot.store(Arc::new(Snapshot {
            fetched: Some(Instant::now()),
            replicas,
        }));
    }

    fn mark_stale(&self) {
        let old = self.snapshot.load();
        self.snapshot.store(Arc::new(Snapshot {
            fetched: None,
            replicas: old.replicas.clone(),
        }));
    }
}

thread_local! {
    /// Scratch space for cache keys on the request path.
    static KEY_BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The endpoint cache of every function called through this gateway.
#[derive(Debug)]
pub struct Endpoints {
    entries: DashMap<String, Arc<FunctionEntry>>,
    ttl: Duration,
    scale_timeout: Duration,
    pool: PoolSettings,
}

impl Endpoints {
    /// An empty cache whose snapshots live `ttl`, waiting up to `scale_timeout` for a function
    /// scaled to zero.
    pub fn new(ttl: Duration, scale_timeout: Duration) -> Self {
        Self {
            entries: DashMap::new(),
            ttl,
            scale_timeout,
            pool: PoolSettings::default(),
        }
    }

    /// Connects to replicas with `pool` (default: [`PoolSettings::default`]).
    pub fn with_pool_settings(mut self, pool: PoolSettings) -> Self {
        self.pool = pool;
        self
    }

    fn key(name: &str, namespace: &str) -> String {
        format!("{name}.{namespace}")
    }

    /// The entry of a function already in the cache, if any: no provider call. Only names
    /// that passed validation and that the provider resolved are ever cached.
    pub fn cached(&self, name: &str, namespace: &str) -> Option<Arc<FunctionEntry>> {
        // The hit path (every call) builds its key in a reused per-thread buffer: no allocation.
        KEY_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            buf.clear();
            buf.push_str(name);
            buf.push('.');
            buf.push_str(namespace);
            self.entries
                .get(buf.as_str())
                .map(|entry| Arc::clone(entry.value()))
        })
    }

    /// The entry of an existing function, resolving it through the provider on first use.
    /// `FunctionNotFound` when the provider does not know it. Callers validate `name` and
    /// `namespace` first.
    pub async fn lookup(
        &self,
        provider: &DynProvider,
        metrics: &Metrics,
        name: &str,
        namespace: &str,
    ) -> Result<Arc<FunctionEntry>, GatewayError> {
        if let Some(entry) = self.cached(name, namespace) {
            return Ok(entry);
        }
        let key = Self::key(name, namespace);
        let endpoints = match provider.resolve(name, namespace).await {
            Ok(endpoints) => endpoints,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidInput) => {
                return Err(GatewayError::FunctionNotFound(key));
            }
            Err(e) => return Err(e.into()),
        };
        let entry = self
            .entries
            .entry(key.clone())
            .or_insert_with(|| {
                let entry = FunctionEntry {
                    name: name.to_owned(),
                    namespace: namespace.to_owned(),
                    metrics: metrics.function(&key),
                    label: key,
                    snapshot: ArcSwap::from_pointee(Snapshot::default()),
                    refresh: tokio::sync::Mutex::new(()),
                    next: AtomicUsize::new(0),
                    pool: self.pool,
                };
                entry.store(endpoints);
                Arc::new(entry)
            })
            .clone();
        Ok(entry)
    }

    /// A replica of `entry` to call: from the cache when it is fresh, else after one shared
    /// refresh (and a scale from zero when the function has no ready replica).
    pub async fn acquire(
        &self,
        provider: &DynProvider,
        entry: &FunctionEntry,
    ) -> Result<Lease, GatewayError> {
        if let Some(lease) = entry.pick(self.ttl, false) {
            return Ok(lease);
        }
        let guard = match entry.refresh.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // Someone is refreshing: keep using what we have, or wait for them.
                if let Some(lease) = entry.pick(self.ttl, true) {
                    return Ok(lease);
                }
                entry.refresh.lock().await
            }
        };
        if let Some(lease) = entry.pick(self.ttl, false) {
            return Ok(lease);
        }
        let result = self.refresh(provider, entry).await;
        drop(guard);
        result?;
        entry
            .pick(self.ttl, true)
            .ok_or_else(|| GatewayError::NoReadyReplica {
                function: entry.label.clone(),
                timeout: self.scale_timeout,
            })
    }

    /// Resolves again; scales from zero and waits when nothing is ready.
    async fn refresh(
        &self,
        provider: &DynProvider,
        entry: &FunctionEntry,
    ) -> Result<(), GatewayError> {
        let (name, namespace) = (entry.name.as_str(), entry.namespace.as_str());
        let endpoints = provider
            .resolve(name, namespace)
            .await
            .map_err(|e| self.not_found(entry, e))?;
        if !endpoints.is_empty() {
            entry.store(endpoints);
            return Ok(());
        }
        let status = provider
            .get(name, namespace)
            .await
            .map_err(|e| self.not_found(entry, e))?;
        if status.replicas == 0 {
            let target = scale_min(&status.labels);
            tracing::info!(function = %entry.label, replicas = target, "scaling from zero");
            provider
                .scale(ScaleRequest::new(name, namespace, target))
                .await
                .map_err(|e| self.not_found(entry, e))?;
        }
        match provider
            .wait_ready(name, namespace, self.scale_timeout)
            .await
        {
            Ok(endpoints) if !endpoints.is_empty() => {
                entry.store(endpoints);
                Ok(())
            }
            Ok(_) => Err(GatewayError::NoReadyReplica {
                function: entry.label.clone(),
                timeout: self.scale_timeout,
            }),
            Err(e) if e.kind() == ErrorKind::Timeout => Err(GatewayError::NoReadyReplica {
                function: entry.label.clone(),
                timeout: self.scale_timeout,
            }),
            Err(e) => Err(self.not_found(entry, e)),
        }
    }

    /// Turns `NotFound` into `FunctionNotFound` and forgets the function.
    fn not_found(&self, entry: &FunctionEntry, e: faas_core::Error) -> GatewayError {
        if e.kind() == ErrorKind::NotFound {
            self.entries.remove(&entry.label);
            GatewayError::FunctionNotFound(entry.label.clone())
        } else {
            e.into()
        }
    }

    /// Takes a replica that refused or dropped a connection out of rotation at once.
    pub fn evict(&self, entry: &FunctionEntry, replica: &Replica) {
        replica.evicted.store(true, Ordering::Relaxed);
        tracing::warn!(function = %entry.label, endpoint = %replica.authority, "evicting unreachable replica");
        let snap = entry.snapshot.load();
        if snap
            .replicas
            .iter()
            .all(|r| r.evicted.load(Ordering::Relaxed))
        {
            entry.mark_stale();
        }
    }

    /// Forces the next call of a function to resolve again (after update or scale).
    pub fn invalidate(&self, name: &str, namespace: &str) {
        if let Some(entry) = self.entries.get(&Self::key(name, namespace)) {
            entry.mark_stale();
        }
    }

    /// Forgets a function (after delete).
    pub fn remove(&self, name: &str, namespace: &str) {
        self.entries.remove(&Self::key(name, namespace));
    }

    /// Closes the pooled upstream connections that have been idle too long or that their
    /// replica closed, and those beyond the most calls each replica had in flight at once
    /// since the last sweep. Run periodically by [`crate::serve`].
    pub fn sweep_idle_connections(&self) {
        for entry in &self.entries {
            for replica in &entry.snapshot.load().replicas {
                let now = replica.in_flight.load(Ordering::Relaxed);
                let peak = replica.peak_in_flight.swap(now, Ordering::Relaxed);
                replica.pool.sweep(peak.max(now));
            }
        }
    }

    /// Invocations of a function counted by this gateway.
    pub fn invocations(&self, name: &str, namespace: &str) -> u64 {
        self.entries
            .get(&Self::key(name, namespace))
            .map_or(0, |e| e.metrics.invocations())
    }
}
