//! One replica: an in-process watchdog serving on its own `127.0.0.1` port, whose function
//! processes are children of this process, in the replica's cgroup and (when available) its
//! own mount namespace.
//!
//! http-mode functions usually assume a fixed upstream port. Each replica gets a free loopback
//! port of its own for its function: `PORT` is set to it and `upstream_url` is rewritten to it
//! (functions that honour `PORT`, as the OpenFaaS templates do, need no change). The port is
//! picked by binding `127.0.0.1:0` and releasing it, so another program could take it in
//! between; the watchdog then reports the replica unhealthy and keeps restarting the function.

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use faas_core::{Endpoint, Error, FunctionDeployment};
use faas_watchdog::{HealthHandle, Mode, Watchdog, WatchdogConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cgroup::{Cgroups, ReplicaCgroup};
use crate::isolate::Plan;
use crate::launcher::{ReplicaLauncher, ReplicaSink};
use crate::logs::FunctionLog;

/// What starting a replica needs from the provider.
#[derive(Debug)]
pub(crate) struct ReplicaEnv<'a> {
    pub(crate) runtime_dir: &'a Path,
    pub(crate) function_path: &'a str,
    pub(crate) isolated: bool,
    pub(crate) cgroups: &'a Cgroups,
    pub(crate) log_line_max: usize,
}

/// A running replica.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) instance: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) health: HealthHandle,
    stop_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    cgroup: ReplicaCgroup,
    scratch: PathBuf,
}

/// The watchdog settings of a deployment, as the function's env vars give them (`mode`,
/// `exec_timeout`, `upstream_url`, …), with `fprocess` set. `InvalidInput` naming
/// `envVars.<setting>` when one is malformed.
pub(crate) fn watchdog_config(
    spec: &FunctionDeployment,
    upstream_port: u16,
) -> Result<WatchdogConfig, Error> {
    let mut vars: BTreeMap<String, String> = spec.env_vars.clone();
    vars.insert(
        faas_core::ENV_FPROCESS.to_owned(),
        spec.fprocess().unwrap_or_default().to_owned(),
    );
    let mode = vars.get("mode").map(|m| Mode::parse(m));
    if let Some(Some(Mode::Http)) = mode {
        let original = vars
            .get("upstream_url")
            .or_else(|| vars.get("http_upstream_url"))
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:8082".to_owned());
        let url = rewrite_port(&original, upstream_port);
        vars.remove("http_upstream_url");
        vars.insert("upstream_url".to_owned(), url);
        vars.insert("PORT".to_owned(), upstream_port.to_string());
    }
    WatchdogConfig::from_env(vars).map_err(|e| match e {
        faas_watchdog::Error::Config { field, message } => {
            let field = if field == "fprocess" {
                "envProcess".to_owned()
            } else {
                format!("envVars.{field}")
            };
            Error::invalid(field, message)
        }
        other => Error::invalid("envVars", other.to_string()),
    })
}

/// `http://host:old/path` → `http://127.0.0.1:port/path`.
fn rewrite_port(url: &str, port: u16) -> String {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
    format!("http://127.0.0.1:{port}{path}")
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    Ok(l.local_addr()?.port())
}

fn spawn_error(spec: &FunctionDeployment, what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!(
        "starting a replica of {}: {what}: {e}",
        spec.service
    ))
}

impl Replica {
    /// Starts a replica of `spec` named `instance`, with its decrypted `secrets`. Returns once the
    /// watchdog serves; readiness follows (see [`Replica::health`]).
    pub(crate) fn start(
        env: &ReplicaEnv<'_>,
        spec: &FunctionDeployment,
        instance: String,
        secrets: &BTreeMap<String, Vec<u8>>,
        log: Arc<FunctionLog>,
    ) -> Result<Self, Error> {
        let scratch = env.runtime_dir.join("replicas").join(&instance);
        let tmp = scratch.join("tmp");
        let io = |what: &'static str| move |e: std::io::Error| spawn_error(spec, what, e);
        fs::create_dir_all(&tmp).map_err(io("creating the scratch directory"))?;
        fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
            .map_err(io("preparing /tmp"))?;

        let mut config =
            watchdog_config(spec, free_port().map_err(io("picking an upstream port"))?)?;
        let path = spec
            .env_vars
            .get("PATH")
            .cloned()
            .unwrap_or_else(|| env.function_path.to_owned());
        let mut fenv: Vec<(String, String)> = vec![("PATH".into(), path)];
        if env.isolated {
            fenv.push(("HOME".into(), "/tmp".into()));
        } else {
            let sdir = scratch.join("secrets");
            crate::fsutil::private_dir(&sdir)
                .map_err(|e| spawn_error(spec, "secrets directory", e))?;
            for (name, value) in secrets {
                crate::fsutil::write_atomic(&sdir.join(name), value)
                    .map_err(|e| spawn_error(spec, "writing secrets", e))?;
            }
            let tmp_s = tmp.to_string_lossy().into_owned();
            fenv.push(("HOME".into(), tmp_s.clone()));
            fenv.push(("TMPDIR".into(), tmp_s));
            fenv.push((
                "secret_mount_path".into(),
                sdir.to_string_lossy().into_owned(),
            ));
        }
        // The function's own variables, with fprocess and the http-mode rewrites.
        for (k, v) in std::mem::take(&mut config.function_env) {
            if k != "PATH" {
                fenv.push((k, v));
            }
        }
        config.function_env = fenv;
        config.lock_file = Some(tmp.join(".lock"));
        config.healthcheck_interval = Duration::ZERO;
        config.log_buffer_size = env.log_line_max.max(1);

        let cgroup = env
            .cgroups
            .create(&instance, spec.limits.as_ref())
            .map_err(io("creating the cgroup"))?;
        let secret_list: Vec<(String, Vec<u8>)> = secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let plan = Plan::new(
            &cgroup.dirs,
            env.isolated
                .then_some((tmp.as_path(), secret_list.as_slice())),
        )
        .map_err(io("preparing isolation"))?;
        let launcher = ReplicaLauncher {
            cwd: tmp.clone(),
            plan: Arc::new(plan),
        };
        let sink = ReplicaSink {
            log,
            instance: instance.clone(),
        };
        let watchdog = Watchdog::new(config, Arc::new(launcher), Arc::new(sink));
        let health = watchdog.health();

        let std_listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(io("binding 127.0.0.1:0"))?;
        let port = std_listener
            .local_addr()
            .map_err(io("reading the port"))?
            .port();
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(io("registering the listener"))?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let name = instance.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            if let Err(e) = watchdog.serve(listener, shutdown).await {
                tracing::error!(instance = %name, error = %e, "replica watchdog stopped");
            }
        });
        tracing::debug!(%instance, port, "replica started");
        Ok(Self {
            endpoint: Endpoint::new(Ipv4Addr::LOCALHOST.to_string(), port, instance.clone()),
            instance,
            health,
            stop_tx: Some(stop_tx),
            task: Some(task),
            cgroup,
            scratch,
        })
    }

    /// Whether the replica answers its health check.
    pub(crate) fn is_ready(&self) -> bool {
        self.health.is_ready()
    }

    /// Stops the replica: the watchdog drains in-flight calls for up to `grace`, then every
    /// process left in the replica's cgroup is killed and its scratch directory removed.
    pub(crate) async fn stop(mut self, grace: Duration) {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(grace, &mut task).await.is_err()
        {
            task.abort();
            let _ = task.await;
        }
        self.kill_remaining().await;
        let _ = fs::remove_dir_all(&self.scratch);
        tracing::debug!(instance = %self.instance, "replica stopped");
    }

    async fn kill_remaining(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.cgroup.pids();
            // Exiting processes can keep a cgroup busy for a moment after they leave its list.
            if pids.is_empty() && self.cgroup.remove() {
                break;
            }
            for pid in pids {
                // SIGKILL every process still in the replica's cgroup (escaped groups included).
                let _ = nix_kill(pid);
            }
            if tokio::time::Instant::now() > deadline {
                tracing::warn!(instance = %self.instance, "processes survive SIGKILL or the cgroup stays busy");
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Removes the cgroup if its processes are gone; `true` when it is.
    pub(crate) fn remove_cgroup(&self) -> bool {
        self.cgroup.pids().is_empty() && self.cgroup.remove()
    }

    /// Synchronous best effort for `Drop`: kill everything in the cgroup, stop the watchdog task.
    pub(crate) fn kill_now(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let pids = self.cgroup.pids();
        for pid in &pids {
            let _ = nix_kill(*pid);
        }
        // The runtime may not get to reap them (we are inside a synchronous Drop): reap our own
        // children here, so the cgroups are released and can be removed.
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        for pid in pids {
            let pid = nix::unistd::Pid::from_raw(pid);
            while std::time::Instant::now() < deadline {
                match nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                    Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    _ => break,
                }
            }
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.kill_now();
        }
    }
}

fn nix_kill(pid: i32) -> nix::Result<()> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
}
