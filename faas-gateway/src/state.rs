//! [`AppState`]: what every request handler shares.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use faas_core::{DynProvider, ProviderInfo};

use crate::auth::Credentials;
use crate::config::GatewayConfig;
use crate::endpoints::Endpoints;
use crate::metrics::Metrics;
use crate::queue::AsyncQueue;

/// The shared state of a gateway: cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: Arc<DynProvider>,
    config: GatewayConfig,
    credentials: Option<Credentials>,
    metrics: Metrics,
    endpoints: Endpoints,
    default_namespace: String,
    info: ProviderInfo,
    counted: std::sync::Mutex<HashSet<String>>,
    async_queue: OnceLock<AsyncQueue>,
}

impl AppState {
    /// State for a gateway over `provider`. `credentials` is `None` only when basic auth is
    /// switched off in `config`; asks the provider for its info (default namespace) once.
    pub async fn new(
        config: GatewayConfig,
        provider: Arc<DynProvider>,
        credentials: Option<Credentials>,
    ) -> Result<Self, faas_core::Error> {
        let info = provider.info().await?;
        let default_namespace = if config.function_namespace.is_empty() {
            if info.default_namespace.is_empty() {
                faas_core::DEFAULT_NAMESPACE.to_owned()
            } else {
                info.default_namespace.clone()
            }
        } else {
            config.function_namespace.clone()
        };
        let endpoints = Endpoints::new(config.endpoint_cache_ttl, config.scale_from_zero_timeout)
            .with_pool_settings(config.upstream_pool);
        Ok(Self {
            inner: Arc::new(Inner {
                provider,
                credentials: if config.basic_auth { credentials } else { None },
                config,
                metrics: Metrics::new(),
                endpoints,
                default_namespace,
                info,
                counted: std::sync::Mutex::new(HashSet::new()),
                async_queue: OnceLock::new(),
            }),
        })
    }

    /// The backend.
    pub fn provider(&self) -> &DynProvider {
        &*self.inner.provider
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// The accepted credentials; `None` when auth is off.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.inner.credentials.as_ref()
    }

    /// The metric registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The endpoint cache.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// The async queue, when one is attached ([`crate::queue::enable`]).
    pub fn async_queue(&self) -> Option<&AsyncQueue> {
        self.inner.async_queue.get()
    }

    /// Attaches the async queue: `/async-function/*` and `/system/async/*` are served from
    /// then on, and [`crate::serve`] runs the worker. Only the first attach counts; returns
    /// whether this one did.
    pub fn attach_queue(&self, queue: AsyncQueue) -> bool {
        self.inner.async_queue.set(queue).is_ok()
    }

    /// The provider's info as read at start.
    pub fn provider_info(&self) -> &ProviderInfo {
        &self.inner.info
    }

    /// The namespace of requests that name none.
    pub fn default_namespace(&self) -> &str {
        &self.inner.default_namespace
    }

    /// `namespace`, or the default when empty.
    pub fn namespace_or_default<'a>(&'a self, namespace: &'a str) -> &'a str {
        let ns = namespace.trim();
        if ns.is_empty() {
            self.default_namespace()
        } else {
            ns
        }
    }

    /// Sets `gateway_service_count` for every function of every namespace (and 0 for
    /// functions that are gone). Run periodically by [`crate::serve`].
    pub async fn refresh_service_counts(&self) {
        let namespaces = match self.provider().list_namespaces().await {
            Ok(list) if !list.is_empty() => list,
            Ok(_) => vec![self.default_namespace().to_owned()],
            Err(e) => {
                tracing::debug!(error = %e, "listing namespaces for gateway_service_count failed");
                return;
            }
        };
        let mut seen = HashSet::new();
        for ns in namespaces {
            let Ok(functions) = self.provider().list(&ns).await else {
                continue;
            };
            for f in functions {
                let label = format!(
                    "{}.{}",
                    f.name,
                    if f.namespace.is_empty() {
                        &ns
                    } else {
                        &f.namespace
                    }
                );
                self.metrics().service_count(&label).set(f.replicas as f64);
                seen.insert(label);
            }
        }
        let mut counted = match self.inner.counted.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for gone in counted.difference(&seen) {
            self.metrics().service_count(gone).set(0.0);
        }
        *counted = seen;
    }
}
