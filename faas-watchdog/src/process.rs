//! Spawning the function process in its own process group, and killing that group.

use std::process::Stdio;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::server::Shared;

/// Builds the function's command: the launcher's command, piped stdio, a new process group,
/// `function_env`.
pub(crate) fn command(shared: &Shared) -> Command {
    let (program, args) = shared
        .argv
        .split_first()
        .map_or(("", &[][..]), |(p, a)| (p.as_str(), a));
    let mut cmd = shared.launcher.command(program, args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .envs(shared.config.function_env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// A spawned process group; the group is the child's pid (it leads its own group).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group(Option<Pid>);

impl Group {
    pub(crate) fn of(child: &Child) -> Self {
        Self(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .map(Pid::from_raw),
        )
    }

    /// The process group id, if known.
    pub(crate) fn id(self) -> Option<i32> {
        self.0.map(Pid::as_raw)
    }

    /// Sends `signal` to every process of the group (ignores a group that is already gone).
    pub(crate) fn signal(self, signal: Signal) {
        if let Some(pid) = self.0
            && pid.as_raw() > 1
        {
            let _ = killpg(pid, signal);
        }
    }

    pub(crate) fn kill(self) {
        self.signal(Signal::SIGKILL);
    }
}
