//! The function runtime shim of an OpenFaaS-compatible platform: an HTTP server on `:8080`
//! in front of the user's function, compatible with OpenFaaS' of-watchdog and classic watchdog
//! (`/work/shared/reference/openfaas-contracts.md` §4).
//!
//! - **streaming** (default; also the classic watchdog's behaviour): one process per request, the
//!   request body streams to its stdin, its stdout streams back as the response. A non-zero exit
//!   before any output is a 500; `exec_timeout` kills the process group and answers 504.
//! - **serializing**: as streaming, but the output is collected and sent with a Content-Length
//!   and `X-Duration-Seconds`.
//! - **http**: `fprocess` starts once and serves HTTP on `upstream_url`; every call is proxied
//!   to it (streaming both ways, pooled connections). When it dies the watchdog turns unhealthy,
//!   restarts it with exponential backoff and turns healthy again once it accepts connections.
//!
//! Health is `GET /_/health` (503 until ready, `200 OK` when ready, with the `/tmp/.lock` file
//! semantics and `suppress_lock`); `/_/ready` also answers 429 at `max_inflight`. Calls beyond
//! `max_inflight` get 429.
//!
//! # Usage
//!
//! The binary `faas-watchdog` reads the OpenFaaS variables from its environment. Embedded
//! (the local provider runs one watchdog per replica in its own process):
//!
//! ```no_run
//! use std::sync::Arc;
//! use faas_watchdog::{DefaultLauncher, StderrSink, Watchdog, WatchdogConfig};
//!
//! # async fn run() -> Result<(), faas_watchdog::Error> {
//! let config = WatchdogConfig::from_env([("fprocess".to_owned(), "cat".to_owned())])?;
//! let watchdog = Watchdog::new(config, Arc::new(DefaultLauncher), Arc::new(StderrSink { prefix: true }));
//! let mut health = watchdog.health();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await
//!     .map_err(|e| faas_watchdog::Error::Io { context: "bind", source: e })?;
//! let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(watchdog.serve(listener, async { let _ = stop_rx.await; }));
//! health.wait_for(true).await; // event-driven readiness
//! // ... send calls ...
//! let _ = stop_tx.send(());      // drains in-flight calls (up to write_timeout), stops the child
//! # let _ = server.await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`config`](WatchdogConfig): settings from OpenFaaS environment variables; `duration`: their
//!   duration syntax.
//! - [`launcher`](Launcher): how processes are spawned (injectable).
//! - [`logs`](LogSink): where output lines go (injectable), and the bounded line reader.
//! - [`health`](HealthHandle): readiness, lock file.
//! - `server`: the hyper accept loop, routing, `max_inflight`, graceful shutdown.
//! - `fork`: streaming/serializing modes (process per request, process groups, CGI env).
//! - `proxy` and `supervisor`: http mode (the reverse proxy, and the long-running process with
//!   restart and backoff).
//! - `body`: the single response body type.

mod body;
mod config;
mod duration;
mod error;
mod fork;
mod health;
mod launcher;
mod logs;
mod process;
mod proxy;
mod server;
mod supervisor;

pub use config::{Mode, WatchdogConfig};
pub use error::Error;
pub use health::HealthHandle;
pub use launcher::{DefaultLauncher, Launcher};
pub use logs::{LogSink, LogSource, StderrSink};
pub use server::Watchdog;
