//! [`QueueRoutes`]: which JetStream queue a function's async calls go to.
//!
//! A function deployed with the annotation `com.openfaas.queue: <name>` (as in OpenFaaS) has
//! its calls published to the named queue `<name>` instead of `default`; only workers that
//! consume that queue (`--nats-queue <name>` on a gateway, `--queue <name>` on
//! `faas-queue-worker`) run them, so slow or bulky functions can be given workers of their own.
//!
//! The annotation is read through the provider's `get` and kept for a TTL (the endpoint cache's),
//! so the enqueue path costs one provider call per function per TTL, not one per request; a
//! changed annotation takes effect within that TTL.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use faas_core::{DynProvider, ErrorKind};

use crate::endpoints::FunctionEntry;
use crate::error::GatewayError;

/// The annotation naming a function's queue.
pub const QUEUE_ANNOTATION: &str = "com.openfaas.queue";

/// The named queue of each function, cached for a TTL.
#[derive(Debug)]
pub struct QueueRoutes {
    entries: DashMap<String, (Option<String>, Instant)>,
    ttl: Duration,
}

impl QueueRoutes {
    /// An empty cache whose answers live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: DashMap::new(),
            ttl,
        }
    }

    /// The queue of `entry`'s function: its `com.openfaas.queue` annotation, `None` for the
    /// default queue (no annotation, or an empty one). `FunctionNotFound` when the function was
    /// removed since it was resolved.
    pub async fn queue_of(
        &self,
        provider: &DynProvider,
        entry: &FunctionEntry,
    ) -> Result<Option<String>, GatewayError> {
        if let Some(hit) = self.entries.get(entry.label())
            && hit.1.elapsed() < self.ttl
        {
            return Ok(hit.0.clone());
        }
        let status = match provider.get(entry.name(), entry.namespace()).await {
            Ok(status) => status,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.entries.remove(entry.label());
                return Err(GatewayError::FunctionNotFound(entry.label().to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        let queue = status
            .annotations
            .get(QUEUE_ANNOTATION)
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty());
        self.entries
            .insert(entry.label().to_owned(), (queue.clone(), Instant::now()));
        Ok(queue)
    }
}
