//! The embedded default provider: functions run as local processes under the watchdog, state
//! kept in a data directory.
//!
//! [`LocalProvider`] implements [`faas_core::Provider`]. Each replica of a function is an
//! in-process [`faas_watchdog::Watchdog`] serving on its own `127.0.0.1` port (a tokio task);
//! the function's processes are child processes of the host, one per request in
//! streaming/classic mode, one long-running process in http mode (restarted by the watchdog
//! when it dies).
//!
//! # Functions
//!
//! - `envProcess` (or `envVars.fprocess`) is the command, split on whitespace into an argv; a
//!   program that is neither an executable path nor found in the function's `PATH` is
//!   `InvalidInput` naming the field. `image` is kept as metadata.
//! - The watchdog settings come from `envVars` as in OpenFaaS images: `mode` (`streaming`
//!   default, `serializing`, `http`), `exec_timeout`, `write_timeout`, `upstream_url`,
//!   `max_inflight`, … A malformed one is `InvalidInput` naming `envVars.<setting>`.
//! - **http mode**: every replica gets its own free loopback port for the function: `PORT` is set
//!   to it and `upstream_url` rewritten to `http://127.0.0.1:<port>` (keeping its path). We
//!   chose this over a network namespace per replica because it needs no privileges, works
//!   the same in the fallback, and the OpenFaaS templates honour `PORT`.
//! - **Clean environment**: a function sees only `PATH` (a fixed safe default unless its
//!   `envVars` set one), `HOME`, its `envVars`, `fprocess`, the CGI `Http_*` variables (fork
//!   modes) and, in http mode, `PORT` — nothing of the host's variables.
//! - **Rolling update**: `update` starts the new replicas beside the old ones, which keep
//!   serving (`resolve` never goes empty). Once every new replica is ready the new spec is
//!   recorded and the old replicas are stopped. If they are not all ready within
//!   [`LocalConfig::ready_timeout`] (default 30 s), the update is rolled back: the new replicas
//!   are stopped, the old ones keep serving, `get` and the data directory keep the previous
//!   spec, and `update` fails with `ErrorKind::Timeout` ("… rolled back …"); the new replicas'
//!   output stays in the function's logs.
//!
//! # Isolation, and the fallback
//!
//! When the OS allows it (root, checked at start by spawning `true` through the isolation
//! hook), every function process runs in its own mount namespace with a private tmpfs at
//! `/var/openfaas/secrets` holding the function's secrets (read-only) and the replica's own
//! directory bound at `/tmp` (see the `isolate` module: a `pre_exec` hook, the only `unsafe`
//! code). Limits (`limits.memory`, `limits.cpu`) are enforced through cgroups (v2, or v1 where
//! that is what the host has): each replica has its own cgroup, which is also how the provider
//! finds and kills every process a replica started.
//!
//! Otherwise (unprivileged, or [`LocalConfig::isolation`] off) the **fallback** applies:
//! secrets are written (0600) to `<runtime_dir>/replicas/<instance>/secrets`, named by the
//! `secret_mount_path` variable; `TMPDIR` and `HOME` point at a per-replica directory; limits
//! are stored but not enforced, and [`faas_core::Capabilities::deploy_with_limits`] is
//! `false`. [`LocalProvider::isolated`] and [`LocalProvider::limits_enforced`] tell which.
//!
//! `info().orchestration` says which is in use ([`LocalProvider::orchestration`]):
//!
//! ```text
//! process (isolated: mount namespace, cgroup v2)          or "cgroup v1"
//! process (fallback: no mount namespace, no cgroup limits)
//! process (partly isolated: mount namespace, no cgroup limits)   one of the two only
//! ```
//!
//! **Stray processes.** With cgroups, `delete`, `scale` down, `update` and `shutdown` kill
//! every process in the replica's cgroup, including descendants that left the function's
//! process group or session (`setsid cmd &`, daemons that double-fork): cgroup membership
//! is inherited and cannot be dropped by an unprivileged function. Without cgroups (the
//! fallback, or "no cgroup limits" above) the provider can only rely on the watchdog, which
//! kills each call's (classic) or the function's (http) process group: a descendant that
//! moves to a new process group or session survives the function. Run the provider as root
//! (or with a delegated, writable cgroup) where functions may do that.
//!
//! # Data directory
//!
//! ```text
//! <data_dir>/state.json          namespaces and functions (spec, createdAt, replicas); atomic writes
//! <data_dir>/keys/secrets.key    the 256-bit secrets key (0600, dir 0700), unless
//!                                LocalConfig::secrets_key_file points elsewhere
//! <data_dir>/secrets/<ns>/<name> XChaCha20-Poly1305 ciphertext of each secret (0600)
//! <data_dir>/secrets/.key-check  a known value sealed with the key: a wrong key is refused at start
//! <data_dir>/logs/<ns>/<fn>.log  NDJSON log lines, rotated to .log.1 at the size cap
//! <runtime_dir>/replicas/<id>/   per-replica scratch (/tmp; fallback secrets); default <data_dir>/run
//! ```
//!
//! A new provider on the same data directory restores the functions and their replica counts.
//!
//! **The secrets key.** By default (kept for backwards compatibility) the key sits inside the
//! data directory, in `keys/`, so a copy or backup of the data directory carries the key that
//! decrypts its secrets. Operators who back up, copy or share the data directory should keep
//! the key elsewhere with [`LocalConfig::with_secrets_key_file`] (`--secrets-key-file` /
//! `FAAS_SECRETS_KEY_FILE` for the `faas-provider-local` binary and the gateway) and back it
//! up separately. To move an existing key, stop the provider, move the file, and start it with
//! the new path. The provider refuses to start, naming the key file, when the key does not
//! decrypt the stored secrets or when the key file is missing while secrets exist; it never
//! creates a new key over existing secrets.
//!
//! # Usage
//!
//! ```no_run
//! use std::time::Duration;
//! use faas_core::{FunctionDeployment, Provider};
//! use faas_provider_local::{LocalConfig, LocalProvider};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = LocalProvider::new(LocalConfig::new("/var/lib/faas")).await?;
//! provider.deploy(FunctionDeployment::new("wc", "local/wc").with_env_process("wc -c")).await?;
//! let endpoints = provider.wait_ready("wc", "", Duration::from_secs(5)).await?;
//! println!("POST to {}", endpoints[0].base_url());
//! provider.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - `config`: [`LocalConfig`].
//! - `error`: [`LocalError`] and its mapping to [`faas_core::Error`].
//! - `provider`: [`LocalProvider`], the `Provider` implementation.
//! - `function`: one function's replicas, readiness events.
//! - `replica`: one replica (an in-process watchdog), its environment and port.
//! - `launcher`: the watchdog launcher and log sink of a replica.
//! - `isolate`: the `pre_exec` hook (mount namespace, secrets tmpfs, cgroup join).
//! - `cgroup`: cgroup detection, limits, finding a replica's processes.
//! - `command`: splitting and checking `envProcess`.
//! - `state`, `secrets`, `logs`, `fsutil`: the data directory.

mod cgroup;
mod command;
mod config;
mod error;
mod fsutil;
mod function;
mod isolate;
mod launcher;
mod logs;
mod provider;
mod replica;
mod secrets;
mod state;

pub use config::{DEFAULT_FUNCTION_PATH, LocalConfig};
pub use error::LocalError;
pub use provider::LocalProvider;
