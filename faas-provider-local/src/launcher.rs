//! The watchdog [`Launcher`] and [`LogSink`] of a replica: clean environment, working
//! directory, isolation hook; output lines into the function's logs.

use std::path::PathBuf;
use std::sync::Arc;

use faas_watchdog::{Launcher, LogSink, LogSource};

use crate::isolate::Plan;
use crate::logs::FunctionLog;

/// Spawns a replica's function processes.
#[derive(Debug)]
pub(crate) struct ReplicaLauncher {
    /// The working directory on the host (the replica's scratch dir).
    pub(crate) cwd: PathBuf,
    /// The pre-exec isolation plan.
    pub(crate) plan: Arc<Plan>,
}

impl Launcher for ReplicaLauncher {
    fn command(&self, program: &str, args: &[String]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        // Nothing of the host's environment: the watchdog adds the function env on top.
        cmd.args(args)
            .env_clear()
            .current_dir(&self.cwd)
            .kill_on_drop(true);
        self.plan.install(&mut cmd);
        cmd
    }
}

/// Sends a replica's output lines to its function's log.
#[derive(Debug)]
pub(crate) struct ReplicaSink {
    pub(crate) log: Arc<FunctionLog>,
    pub(crate) instance: String,
}

impl LogSink for ReplicaSink {
    fn line(&self, source: LogSource, text: &str) {
        tracing::trace!(instance = %self.instance, source = source.as_str(), "function output");
        self.log.push(&self.instance, text);
    }
}
