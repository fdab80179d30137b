//! http mode: runs the function process, reports readiness when it accepts connections, and
//! restarts it with exponential backoff when it dies.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::logs::{LogSource, pump_lines};
use crate::process::{self, Group};
use crate::server::Shared;

/// First restart delay; doubled per crash up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A process that stayed up this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long the process gets to exit after SIGTERM at shutdown before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Supervises the http-mode process until `stop` turns true; then stops its process group.
pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let Some(address) = shared.proxy.as_ref().map(|p| p.address()) else {
        return;
    };
    let mut backoff = INITIAL_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        match spawn(&shared) {
            Ok(mut child) => {
                let group = Group::of(&child);
                shared.log(&format!(
                    "Started fprocess (pid {})",
                    group.id().unwrap_or_default()
                ));
                let exited = tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => None,
                    status = supervise(&shared, &mut child, &address) => Some(status),
                };
                shared.health.set_ready(false);
                match exited {
                    None => {
                        stop_group(&mut child, group).await;
                        return;
                    }
                    Some(status) => {
                        group.kill();
                        shared.log(&format!(
                            "fprocess exited ({status}); restarting in {backoff:?}"
                        ));
                    }
                }
            }
            Err(e) => shared.log(&format!(
                "Failed to start fprocess: {e}; retrying in {backoff:?}"
            )),
        }
        if started.elapsed() >= STABLE_AFTER {
            backoff = INITIAL_BACKOFF;
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn spawn(shared: &Arc<Shared>) -> std::io::Result<Child> {
    let mut child = process::command(shared).spawn()?;
    // The process gets no request body on stdin in http mode.
    drop(child.stdin.take());
    let max = shared.config.log_buffer_size;
    for (pipe, source) in [
        (child.stdout.take().map(Pipe::Out), LogSource::Stdout),
        (child.stderr.take().map(Pipe::Err), LogSource::Stderr),
    ] {
        if let Some(pipe) = pipe {
            let sink = Arc::clone(&shared.sink);
            tokio::spawn(async move {
                match pipe {
                    Pipe::Out(p) => pump_lines(p, source, &*sink, max).await,
                    Pipe::Err(p) => pump_lines(p, source, &*sink, max).await,
                }
            });
        }
    }
    Ok(child)
}

enum Pipe {
    Out(tokio::process::ChildStdout),
    Err(tokio::process::ChildStderr),
}

/// Waits until the process accepts connections (then marks ready), then until it exits.
/// Returns how it exited.
async fn supervise(shared: &Shared, child: &mut Child, address: &str) -> String {
    let status = tokio::select! {
        biased;
        status = child.wait() => Some(status),
        () = wait_accepting(address) => None,
    };
    let status = match status {
        Some(status) => status,
        None => {
            shared.health.set_ready(true);
            shared.log(&format!("fprocess is accepting connections on {address}"));
            child.wait().await
        }
    };
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}

/// Polls `address` with connects until one succeeds (fast at first, then every 50 ms).
async fn wait_accepting(address: &str) {
    let mut delay = Duration::from_millis(2);
    let started = Instant::now();
    let mut warned = false;
    loop {
        if TcpStream::connect(address).await.is_ok() {
            return;
        }
        if !warned && started.elapsed() > Duration::from_secs(30) {
            tracing::warn!(%address, "the function process has not accepted connections for 30s");
            warned = true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// SIGTERM to the group, SIGKILL after [`STOP_GRACE`], and reap.
async fn stop_group(child: &mut Child, group: Group) {
    group.signal(Signal::SIGTERM);
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        group.kill();
        let _ = child.wait().await;
    }
    group.kill();
}
