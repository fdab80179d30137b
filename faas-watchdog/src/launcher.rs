//! [`Launcher`]: how the function process is spawned.

/// How the function process is spawned.
///
/// The watchdog calls [`Launcher::command`] for every process it starts (per request in fork
/// modes, once per (re)start in http mode), then adds on top of the returned command: stdio
/// pipes, a new process group (so a timeout or shutdown can kill the whole group),
/// [`WatchdogConfig::function_env`](crate::WatchdogConfig::function_env) and, in fork modes, the
/// CGI `Http_*` variables. Whatever environment the returned command already carries stays
/// underneath; return one with `env_clear()` for a clean environment, as [`DefaultLauncher`] does.
///
/// The local provider supplies a launcher that sets the working directory and namespace/cgroup
/// isolation (for example through `pre_exec`).
pub trait Launcher: Send + Sync + std::fmt::Debug + 'static {
    /// The command for `program` with `args`.
    fn command(&self, program: &str, args: &[String]) -> tokio::process::Command;
}

/// Spawns the command directly, with an environment made only of
/// [`WatchdogConfig::function_env`](crate::WatchdogConfig::function_env) (which
/// [`WatchdogConfig::from_env`](crate::WatchdogConfig::from_env) fills with the watchdog's own
/// environment) plus the CGI variables.
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultLauncher;

impl Launcher for DefaultLauncher {
    fn command(&self, program: &str, args: &[String]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).env_clear();
        cmd
    }
}
