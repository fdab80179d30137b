//! [`DockerConfig`]: how to reach the engine and how functions are laid out on the Swarm.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The socket used when neither the config nor `DOCKER_HOST` names an engine.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// How [`resolve`](faas_core::Provider::resolve) turns a function into endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolveMode {
    /// Every task publishes its port 8080 in host mode on a port the engine picks; endpoints
    /// are `127.0.0.1:<port>` of the running tasks whose `/_/health` answers. For a gateway on
    /// the Swarm node itself (and for tests).
    #[default]
    Published,
    /// No published ports; the single endpoint is `<service>:8080`, resolved by Swarm's DNS
    /// on the function network. For a gateway attached to that network.
    Dns,
}

impl std::str::FromStr for ResolveMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "published" => Ok(ResolveMode::Published),
            "dns" => Ok(ResolveMode::Dns),
            other => Err(format!(
                "resolve mode {other:?} is not one of: published, dns"
            )),
        }
    }
}

/// Credentials for pulling private images, sent with every service create and update.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryAuth {
    /// The registry user.
    pub username: String,
    /// The registry password or token (never printed).
    pub password: String,
    /// The registry address, e.g. `registry.example.com`.
    pub server_address: String,
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("server_address", &self.server_address)
            .finish()
    }
}

/// Everything [`DockerProvider::new`](crate::DockerProvider::new) needs. The library never
/// reads the environment: the binary (or the caller) fills this in, for instance with
/// [`DockerConfig::from_lookup`].
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DockerConfig {
    /// The engine: `unix:///path/to/docker.sock` or `tcp://host:port`.
    pub host: String,
    /// The overlay network functions attach to (created, attachable, when missing).
    pub network: String,
    /// How endpoints are resolved.
    pub resolve_mode: ResolveMode,
    /// Prefix of the labels this provider keeps on services, secrets and configs for itself.
    /// User labels may not start with it.
    pub label_prefix: String,
    /// The namespace used when a request names none.
    pub default_namespace: String,
    /// Deadline of one Docker API call.
    #[serde(with = "secs")]
    pub api_timeout: Duration,
    /// Deadline of one readiness probe (`GET /_/health` on a published port).
    #[serde(with = "secs")]
    pub probe_timeout: Duration,
    /// How long a passed probe keeps a task counted as ready before it is probed again.
    #[serde(with = "secs")]
    pub ready_ttl: Duration,
    /// How long a stopping task gets between SIGTERM and SIGKILL.
    #[serde(with = "secs")]
    pub stop_grace_period: Duration,
    /// Credentials for private images.
    pub registry_auth: Option<RegistryAuth>,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            host: DEFAULT_DOCKER_HOST.to_owned(),
            network: "func_functions".to_owned(),
            resolve_mode: ResolveMode::Published,
            label_prefix: "faas.swarm.".to_owned(),
            default_namespace: faas_core::DEFAULT_NAMESPACE.to_owned(),
            api_timeout: Duration::from_secs(30),
            probe_timeout: Duration::from_millis(500),
            ready_ttl: Duration::from_secs(2),
            stop_grace_period: Duration::from_secs(5),
            registry_auth: None,
        }
    }
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("host", &self.host)
            .field("network", &self.network)
            .field("resolve_mode", &self.resolve_mode)
            .field("label_prefix", &self.label_prefix)
            .field("default_namespace", &self.default_namespace)
            .field("api_timeout", &self.api_timeout)
            .field("probe_timeout", &self.probe_timeout)
            .field(
                "registry_auth",
                &self.registry_auth.as_ref().map(|_| "<set>"),
            )
            .finish_non_exhaustive()
    }
}

impl DockerConfig {
    /// A config from variables looked up by `get` (`std::env::var(..).ok()` in a binary, a map
    /// in tests), defaults for what is unset:
    ///
    /// | variable | field |
    /// |---|---|
    /// | `DOCKER_HOST` | `host` |
    /// | `FAAS_DOCKER_NETWORK` | `network` |
    /// | `FAAS_DOCKER_RESOLVE` (`published` or `dns`) | `resolve_mode` |
    /// | `FAAS_DOCKER_LABEL_PREFIX` | `label_prefix` |
    /// | `FAAS_DOCKER_DEFAULT_NAMESPACE` | `default_namespace` |
    /// | `FAAS_DOCKER_REGISTRY_USER`, `_PASSWORD`, `_SERVER` | `registry_auth` |
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut config = Self::default();
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        if let Some(host) = get("DOCKER_HOST") {
            config.host = host;
        }
        if let Some(network) = get("FAAS_DOCKER_NETWORK") {
            config.network = network;
        }
        if let Some(mode) = get("FAAS_DOCKER_RESOLVE") {
            config.resolve_mode = mode.parse()?;
        }
        if let Some(prefix) = get("FAAS_DOCKER_LABEL_PREFIX") {
            config.label_prefix = prefix;
        }
        if let Some(ns) = get("FAAS_DOCKER_DEFAULT_NAMESPACE") {
            config.default_namespace = ns;
        }
        if let (Some(username), Some(password)) = (
            get("FAAS_DOCKER_REGISTRY_USER"),
            get("FAAS_DOCKER_REGISTRY_PASSWORD"),
        ) {
            config.registry_auth = Some(RegistryAuth {
                username,
                password,
                server_address: get("FAAS_DOCKER_REGISTRY_SERVER").unwrap_or_default(),
            });
        }
        Ok(config)
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn lookup_fills_fields_and_keeps_defaults() {
        let vars: HashMap<&str, &str> = [
            ("DOCKER_HOST", "tcp://127.0.0.1:2375"),
            ("FAAS_DOCKER_RESOLVE", "dns"),
            ("FAAS_DOCKER_REGISTRY_USER", "me"),
            ("FAAS_DOCKER_REGISTRY_PASSWORD", "hunter2"),
        ]
        .into();
        let config = DockerConfig::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).unwrap();
        assert_eq!(config.host, "tcp://127.0.0.1:2375");
        assert_eq!(config.resolve_mode, ResolveMode::Dns);
        assert_eq!(config.network, "func_functions");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            DockerConfig::from_lookup(|k| (k == "FAAS_DOCKER_RESOLVE").then(|| "mesh".into()))
                .is_err()
        );
    }
}
