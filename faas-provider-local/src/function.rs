//! One deployed function at run time: its spec, its replicas and the events that announce
//! changes to them (for event-driven `wait_ready`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use faas_core::{Endpoint, Error, FunctionDeployment, FunctionStatus};
use futures::FutureExt;
use tokio::sync::watch;

use crate::logs::FunctionLog;
use crate::replica::Replica;

/// A function and its running replicas.
#[derive(Debug)]
pub(crate) struct Function {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) created_at: DateTime<Utc>,
    spec: Mutex<FunctionDeployment>,
    desired: Mutex<u64>,
    replicas: Mutex<Vec<Replica>>,
    /// Serialises the operations that change replicas (scale, update, delete).
    pub(crate) ops: tokio::sync::Mutex<()>,
    changed: watch::Sender<u64>,
    deleted: AtomicBool,
    pub(crate) log: Arc<FunctionLog>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Function {
    pub(crate) fn new(
        spec: FunctionDeployment,
        created_at: DateTime<Utc>,
        desired: u64,
        log: Arc<FunctionLog>,
    ) -> Self {
        let (changed, _) = watch::channel(0);
        Self {
            namespace: spec.namespace.clone(),
            name: spec.service.clone(),
            created_at,
            spec: Mutex::new(spec),
            desired: Mutex::new(desired),
            replicas: Mutex::new(Vec::new()),
            ops: tokio::sync::Mutex::new(()),
            changed,
            deleted: AtomicBool::new(false),
            log,
        }
    }

    pub(crate) fn spec(&self) -> FunctionDeployment {
        lock(&self.spec).clone()
    }

    pub(crate) fn set_spec(&self, spec: FunctionDeployment) {
        *lock(&self.spec) = spec;
    }

    pub(crate) fn desired(&self) -> u64 {
        *lock(&self.desired)
    }

    pub(crate) fn set_desired(&self, n: u64) {
        *lock(&self.desired) = n;
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Adds started replicas.
    pub(crate) fn add(&self, new: Vec<Replica>) {
        lock(&self.replicas).extend(new);
        self.bump();
    }

    /// Takes out the last `n` replicas (newest first), to be stopped by the caller.
    pub(crate) fn take_last(&self, n: usize) -> Vec<Replica> {
        let mut r = lock(&self.replicas);
        let keep = r.len().saturating_sub(n);
        let out = r.split_off(keep);
        drop(r);
        self.bump();
        out
    }

    /// Takes out the replicas whose instance is in `ids`.
    pub(crate) fn take(&self, ids: &[String]) -> Vec<Replica> {
        let mut r = lock(&self.replicas);
        let (go, stay): (Vec<_>, Vec<_>) = r.drain(..).partition(|x| ids.contains(&x.instance));
        *r = stay;
        drop(r);
        self.bump();
        go
    }

    /// Takes out the replicas whose instance is not in `keep`.
    pub(crate) fn take_except(&self, keep: &[String]) -> Vec<Replica> {
        let mut r = lock(&self.replicas);
        let (stay, go): (Vec<_>, Vec<_>) = r.drain(..).partition(|x| keep.contains(&x.instance));
        *r = stay;
        drop(r);
        self.bump();
        go
    }

    /// How many replicas run.
    pub(crate) fn running(&self) -> usize {
        lock(&self.replicas).len()
    }

    /// Marks the function deleted and wakes waiters.
    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        self.bump();
    }

    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// The ready endpoints.
    pub(crate) fn ready_endpoints(&self) -> Vec<Endpoint> {
        lock(&self.replicas)
            .iter()
            .filter(|r| r.is_ready())
            .map(|r| r.endpoint.clone())
            .collect()
    }

    /// The status, as `get`/`list` report it.
    pub(crate) fn status(&self) -> FunctionStatus {
        let spec = self.spec();
        let mut s = FunctionStatus::from_deployment(&spec, &self.namespace, self.created_at);
        s.replicas = self.desired();
        s.available_replicas = lock(&self.replicas).iter().filter(|r| r.is_ready()).count() as u64;
        s
    }

    /// Waits until some replica is ready (event-driven: replica health changes and replica-set
    /// changes wake it). `NotFound` if the function is deleted meanwhile, `Timeout` at `timeout`.
    pub(crate) async fn wait_ready(&self, timeout: Duration) -> Result<Vec<Endpoint>, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changed = self.changed.subscribe();
        loop {
            changed.borrow_and_update();
            if self.is_deleted() {
                return Err(Error::not_found(format!(
                    "function {} was deleted",
                    self.name
                )));
            }
            let ready = self.ready_endpoints();
            if !ready.is_empty() {
                return Ok(ready);
            }
            let healths: Vec<_> = lock(&self.replicas)
                .iter()
                .map(|r| r.health.clone())
                .collect();
            let any_ready = futures::future::select_all(
                healths
                    .into_iter()
                    .map(|mut h| {
                        async move {
                            // A watchdog that is gone never becomes ready: wait for other events.
                            if !h.wait_for(true).await {
                                futures::future::pending::<()>().await;
                            }
                        }
                        .boxed()
                    })
                    .chain(std::iter::once(futures::future::pending::<()>().boxed())),
            );
            tokio::select! {
                _ = changed.changed() => {}
                _ = any_ready => {}
                () = tokio::time::sleep_until(deadline) => {
                    return Err(Error::timeout(format!(
                        "function {} has no ready replica after {timeout:?}", self.name
                    )));
                }
            }
        }
    }

    /// Waits until every replica in `instances` is ready, or `timeout` passes; returns how many
    /// of them are not ready (0: all are). A replica whose watchdog is gone counts as not ready
    /// at once.
    pub(crate) async fn wait_all_ready(&self, instances: &[String], timeout: Duration) -> usize {
        let healths: Vec<_> = lock(&self.replicas)
            .iter()
            .filter(|r| instances.contains(&r.instance))
            .map(|r| r.health.clone())
            .collect();
        let missing = instances.len().saturating_sub(healths.len());
        let deadline = tokio::time::Instant::now() + timeout;
        let ready = futures::future::join_all(healths.into_iter().map(|mut h| async move {
            matches!(
                tokio::time::timeout_at(deadline, h.wait_for(true)).await,
                Ok(true)
            )
        }))
        .await;
        missing + ready.iter().filter(|r| !**r).count()
    }

    /// Removes the replicas' cgroups; `true` when all are gone (for `Drop`).
    pub(crate) fn remove_cgroups(&self) -> bool {
        lock(&self.replicas).iter().all(|r| r.remove_cgroup())
    }

    /// Kills every replica at once (for `Drop`).
    pub(crate) fn kill_all_now(&self) {
        for r in lock(&self.replicas).iter_mut() {
            r.kill_now();
        }
    }
}
