//! The connection to the Docker engine: connect lazily, negotiate the API version, check that
//! the engine is a Swarm manager, and reconnect after the engine restarts.

use std::sync::Mutex;
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};

use crate::error::DockerError;

/// A Docker client that survives engine restarts: the negotiated client is cached and dropped
/// whenever a call fails to reach the engine, so the next call connects again.
#[derive(Debug)]
pub(crate) struct Engine {
    host: String,
    timeout: Duration,
    cached: Mutex<Option<Docker>>,
}

impl Engine {
    /// An engine at `host` (`unix://…` or `tcp://…`); nothing is contacted yet.
    pub(crate) fn new(host: &str, timeout: Duration) -> Self {
        Self {
            host: host.to_owned(),
            timeout,
            cached: Mutex::new(None),
        }
    }

    /// The engine address.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// A connected client, negotiated down to the engine's API version.
    pub(crate) async fn client(&self) -> Result<Docker, DockerError> {
        if let Some(d) = self.cached.lock().map_err(|_| poisoned())?.clone() {
            return Ok(d);
        }
        let unreachable = |source| DockerError::Unreachable {
            host: self.host.clone(),
            source,
        };
        let secs = self.timeout.as_secs().max(1);
        let docker = if let Some(path) = self.host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, secs, API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_http(&self.host, secs, API_DEFAULT_VERSION)
        }
        .map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        *self.cached.lock().map_err(|_| poisoned())? = Some(docker.clone());
        Ok(docker)
    }

    /// Wraps a failed call: transport failures drop the cached client and become
    /// [`DockerError::Unreachable`]; anything else is [`DockerError::Api`].
    pub(crate) fn fail(&self, op: &'static str, source: bollard::errors::Error) -> DockerError {
        if crate::error::is_transport(&source) {
            if let Ok(mut cached) = self.cached.lock() {
                *cached = None;
            }
            return DockerError::Unreachable {
                host: self.host.clone(),
                source,
            };
        }
        DockerError::Api { op, source }
    }

    /// `Ok` when the engine answers and is a Swarm manager.
    pub(crate) async fn check_swarm_manager(&self) -> Result<(), DockerError> {
        let docker = self.client().await?;
        let info = docker.info().await.map_err(|e| self.fail("info", e))?;
        let manager = info
            .swarm
            .and_then(|s| s.control_available)
            .unwrap_or(false);
        if manager {
            Ok(())
        } else {
            Err(DockerError::NotSwarmManager {
                host: self.host.clone(),
            })
        }
    }
}

fn poisoned() -> DockerError {
    DockerError::Unexpected("engine client lock poisoned".to_owned())
}
