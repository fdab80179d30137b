//! Docker Swarm provider: functions as Swarm services through the Docker Engine API
//! ([bollard]), the way faas-swarm ran them, with readiness, namespaces and secret rotation
//! added.
//!
//! # Usage
//!
//! ```no_run
//! use faas_core::{FunctionDeployment, Provider, ProviderExt};
//! use faas_provider_docker::{DockerConfig, DockerProvider};
//!
//! # async fn run() -> faas_core::Result<()> {
//! let config = DockerConfig::from_lookup(|k| std::env::var(k).ok()).map_err(|e| faas_core::Error::invalid("config", e))?;
//! let provider = DockerProvider::new(config).await?;
//! let f = FunctionDeployment::new("echo", "ghcr.io/openfaas/alpine:latest").with_env_process("cat");
//! let endpoints = provider.deploy_and_wait(f, std::time::Duration::from_secs(30)).await?;
//! println!("call {}", endpoints[0].base_url());
//! # Ok(())
//! # }
//! ```
//!
//! The engine must be a Swarm manager (`docker swarm init --advertise-addr 127.0.0.1`); the
//! provider says so when it is not, and reconnects by itself after the engine restarts.
//!
//! # Mapping
//!
//! A function is a replicated service (table in [`translate`]); labels stay labels,
//! annotations become labels under `com.openfaas.annotations.`, limits and requests become
//! resources (Kubernetes quantities parsed exactly into bytes and NanoCPUs), constraints become
//! placement constraints, secrets become Swarm secrets mounted at
//! `/var/openfaas/secrets/<name>`, updates are rolling start-first service updates. The
//! provider's own bookkeeping lives in labels under [`DockerConfig::label_prefix`]
//! (`faas.swarm.` by default), which user labels may not use.
//!
//! # Namespaces
//!
//! Swarm has none, so names carry them (full rule in [`names`]): function `f` of the default
//! namespace is the service `f`, of namespace `ns` the service `ns_f`. OpenFaaS names never
//! contain `_`, so no two functions can map to one service (a `--` separator could collide:
//! `a--b`+`c` and `a`+`b--c`). Names over Swarm's 63 characters are rejected. Namespaces other
//! than the default are recorded as labelled Swarm configs, which also keep their labels and
//! annotations; secrets carry their namespace in their name and labels.
//!
//! # Resolve modes
//!
//! - `published` (default): each task publishes port 8080 in host mode on a port the engine
//!   picks; `resolve` returns `127.0.0.1:<port>` of each ready task. This is for a gateway on
//!   the Swarm node itself and is what the tests use (the ingress routing mesh is not needed).
//! - `dns`: nothing is published; `resolve` returns `<service>:8080`, for a gateway attached
//!   to the function network, once a task runs (the provider cannot probe inside the overlay).
//!
//! # Readiness
//!
//! Images need no `HEALTHCHECK` (OpenFaaS CE waited on a 3 s health-check interval). A task
//! is ready when Swarm reports it running *and* a short bounded probe of `GET /_/health` on its
//! published port answers 2xx; `availableReplicas` counts those tasks and a passed probe is
//! trusted for [`DockerConfig::ready_ttl`]. `wait_ready` listens to the engine's container
//! events for the service: on a container `start` it reads the container's published port
//! from the container and probes it at once (without waiting for the manager to record the
//! task running, tens of milliseconds later), and otherwise lists tasks and probes in short
//! steps (5 ms growing to 100 ms), so a fresh replica is found within milliseconds of
//! answering, with a bounded deadline (such a replica also counts in `resolve` and
//! `availableReplicas` while the manager still reports it starting). A scale-down is checked (for at most a second) to have
//! marked the surplus tasks for removal, and the service is written again when Swarm lost it
//! to a concurrent task status update.
//!
//! # Layout
//!
//! - [`config`]: [`DockerConfig`], [`ResolveMode`], [`RegistryAuth`].
//! - [`error`]: [`DockerError`] and its one conversion to `faas_core::Error`.
//! - [`names`]: the naming rule for services, secrets and namespace records.
//! - [`quantity`]: Kubernetes quantities to bytes and NanoCPUs.
//! - [`translate`]: function ↔ service spec, pure.
//! - `engine`: the connection (negotiation, Swarm check, reconnect).
//! - `ready`: running tasks, health probes and their cache.
//! - `provider`, `functions`, `secrets`, `namespaces`, `logs`: the [`faas_core::Provider`]
//!   implementation, one module per topic.
//! - [`test_support`] (feature `test-support`): fixture image builder and engine helpers for
//!   real-engine tests and benchmarks.
//! - `src/bin/fixture.rs`: `faas-docker-fixture`, the test function (echo, env, cat, serve).
//! - `src/main.rs`: `faas-provider-docker`, the provider served over gRPC.

pub mod config;
mod engine;
pub mod error;
mod functions;
mod logs;
pub mod names;
mod namespaces;
mod provider;
pub mod quantity;
mod ready;
mod secrets;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod translate;

pub use config::{DockerConfig, RegistryAuth, ResolveMode};
pub use error::DockerError;
pub use provider::DockerProvider;
