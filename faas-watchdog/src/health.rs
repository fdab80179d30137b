//! Readiness: the [`HealthHandle`] the provider watches and the OpenFaaS lock file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// Reports whether the watchdog is ready to take calls, and lets a caller await changes
/// (event-driven readiness, no polling). Cheap to clone.
#[derive(Debug, Clone)]
pub struct HealthHandle {
    rx: watch::Receiver<bool>,
}

impl HealthHandle {
    /// Whether the watchdog is ready now (what `/_/health` reports, minus the lock-file check).
    pub fn is_ready(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits for the next change of readiness and returns the new value. Returns `false` at once
    /// when the watchdog is gone.
    pub async fn ready_changed(&mut self) -> bool {
        match self.rx.changed().await {
            Ok(()) => *self.rx.borrow_and_update(),
            Err(_) => false,
        }
    }

    /// Waits until readiness equals `ready` (returns at once if it already does). Returns `false`
    /// if the watchdog went away first.
    pub async fn wait_for(&mut self, ready: bool) -> bool {
        self.rx.wait_for(|v| *v == ready).await.is_ok()
    }
}

/// The owner side of readiness: flips the flag and keeps the lock file in step with it.
#[derive(Debug)]
pub(crate) struct Health {
    tx: watch::Sender<bool>,
    lock_file: Option<PathBuf>,
    /// Set at shutdown: readiness can no longer come back.
    closing: AtomicBool,
}

impl Health {
    pub(crate) fn new(lock_file: Option<PathBuf>) -> Self {
        let (tx, _rx) = watch::channel(false);
        Self {
            tx,
            lock_file,
            closing: AtomicBool::new(false),
        }
    }

    pub(crate) fn handle(&self) -> HealthHandle {
        HealthHandle {
            rx: self.tx.subscribe(),
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        *self.tx.borrow()
    }

    /// What `/_/health` answers: ready, and the lock file (when used) still present.
    pub(crate) fn healthy(&self) -> bool {
        self.is_ready()
            && self
                .lock_file
                .as_ref()
                .is_none_or(|path| std::fs::metadata(path).is_ok())
    }

    /// Shutdown has begun: not ready, and [`Health::set_ready`] can no longer make it ready.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.set_ready(false);
    }

    /// Marks ready or not; writes or removes the lock file. Failing to write the lock file is
    /// logged and leaves the watchdog unhealthy (as of-watchdog would be).
    pub(crate) fn set_ready(&self, ready: bool) {
        if ready && self.closing.load(Ordering::Acquire) {
            return;
        }
        if let Some(path) = &self.lock_file {
            let result = if ready {
                std::fs::write(path, b"")
            } else {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    other => other,
                }
            };
            if let Err(e) = result {
                tracing::warn!(path = %path.display(), error = %e, "lock file");
            }
        }
        self.tx.send_if_modified(|v| {
            let changed = *v != ready;
            *v = ready;
            changed
        });
    }
}
