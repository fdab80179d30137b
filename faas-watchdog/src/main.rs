//! `faas-watchdog`: the OpenFaaS-compatible function runtime shim. Reads the OpenFaaS watchdog
//! variables (`fprocess`, `mode`, `upstream_url`, `port`, timeouts, …) from its environment,
//! listens on `bind_address:port` (0.0.0.0:8080) and runs until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use faas_watchdog::{DefaultLauncher, StderrSink, Watchdog, WatchdogConfig};
use tokio::signal::unix::{SignalKind, signal};

/// One thread: a watchdog fronts one function, and proxying on a current-thread runtime keeps
/// the server connection, the pooled upstream connection and their wakeups on the same thread
/// (no work stealing, no cross-thread wakeups), which costs measurably less CPU per call than
/// the multi-thread scheduler (see the README's benchmark).
fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("faas-watchdog: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faas-watchdog: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = WatchdogConfig::from_env(std::env::vars())?;
    let addr = SocketAddr::new(config.bind_address, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("binding {addr}: {e}"))?;
    let sink = Arc::new(StderrSink {
        prefix: config.prefix_logs,
    });
    eprintln!(
        "faas-watchdog: listening on {} (mode {:?}, fprocess {:?})",
        listener.local_addr()?,
        config.mode,
        config.fprocess
    );
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    Watchdog::new(config, Arc::new(DefaultLauncher), sink)
        .serve(listener, shutdown)
        .await?;
    Ok(())
}
