//! The OpenFaaS-compatible gateway: the management API (`/system/*`), a streaming reverse
//! proxy to function replicas (`/function/*`), durable async invocations (`/async-function/*`),
//! basic auth, limits and Prometheus metrics, over any [`faas_core::Provider`].
//!
//! One hyper server carries both planes: `/function/…` goes straight to the proxy (a raw
//! hyper handler with a pooled keep-alive client), `/async-function/…` to the enqueue handler
//! when a queue is attached, everything else to the axum [`app`] router.
//!
//! # Layout
//! - [`config`]: `GatewayConfig`, flags with environment fallbacks (`Source` trait).
//! - [`state`]: `AppState`, what handlers share.
//! - [`error`]: `GatewayError` and the one status table.
//! - [`auth`]: basic-auth credentials (files, environment, generated) and the check.
//! - [`routes`]: the control-plane router: path check, auth, write timeout, handlers.
//! - [`proxy`]: the `/function/*` hot path.
//! - [`endpoints`]: endpoint cache, least-in-flight balancing, scale from zero.
//! - [`upstream`]: pooled keep-alive connections to each replica.
//! - [`metrics`]: metric names and the per-gateway registry.
//! - [`provider`]: builds the configured backend.
//! - [`queue`]: async invocations: settings, enqueue route, worker invoker, dead letters.
//!
//! # Usage
//!
//! ```no_run
//! use std::sync::Arc;
//! use faas_core::memory::MemoryProvider;
//! use faas_gateway::{AppState, GatewayConfig, serve};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = GatewayConfig { basic_auth: false, ..GatewayConfig::default() };
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! let state = AppState::new(config, Arc::new(MemoryProvider::new()), None).await?;
//! serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod metrics;
pub mod provider;
pub mod proxy;
pub mod queue;
pub mod routes;
pub mod state;
pub mod upstream;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use config::{GatewayConfig, ProviderSpec, Source};
pub use error::GatewayError;
pub use state::AppState;

/// How often `gateway_service_count` is refreshed and histograms are drained.
const BACKGROUND_INTERVAL: Duration = Duration::from_secs(5);

/// The smallest `max_header_bytes` [`serve`] accepts: hyper's HTTP/1 read buffer, which
/// enforces the limit, cannot be smaller (a request head of up to `max_header_bytes` bytes,
/// request line and blank line included, passes; a longer one gets 431).
pub const MIN_HEADER_BYTES: usize = 8192;

/// The control-plane router (every route but `/function/*`), for `oneshot` tests and for
/// [`serve`].
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// What the requests of one client connection share: one reference count per request.
struct Connection {
    state: AppState,
    router: Router,
    peer: proxy::Peer,
}

/// Routes one request: `/function/…` to the proxy, the rest to the router.
async fn dispatch(conn: Arc<Connection>, req: Request<Incoming>) -> Response<Body> {
    if req.uri().path().starts_with(proxy::FUNCTION_PREFIX) {
        return proxy::invoke(&conn.state, req, &conn.peer).await;
    }
    // Public like /function/ (no credentials); with `--queue none` the handler answers 404.
    if req.uri().path().starts_with(queue::ASYNC_PREFIX) {
        return queue::enqueue::enqueue(&conn.state, req, &conn.peer).await;
    }
    match conn.router.clone().oneshot(req.map(Body::new)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Serves the gateway on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for up to `shutdown_timeout` and returns.
///
/// A request head longer than `max_header_bytes`, or with more than 100 header fields
/// (hyper's default, kept because raising it costs a heap allocation per request), is answered
/// `431 Request Header Fields Too Large` by hyper and its connection closed; a client that
/// has not sent a whole head within `read_timeout` (nor, on a kept-alive connection, the next
/// one) is disconnected without a response. Fails at once with `InvalidInput` when
/// `max_header_bytes` is below [`MIN_HEADER_BYTES`].
///
/// With an async queue attached ([`queue::enable`]) and the worker on, the worker runs for as
/// long as the server does; on shutdown it stops fetching and its in-flight calls get the same
/// `shutdown_timeout` to settle (what does not settle stays un-acked and is delivered again).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let config = state.config().clone();
    if config.max_header_bytes < MIN_HEADER_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "max_header_bytes {} is below the minimum of {MIN_HEADER_BYTES}",
                config.max_header_bytes
            ),
        ));
    }
    let router = app(state.clone());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.read_timeout)
        .max_buf_size(config.max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));

    let background = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(BACKGROUND_INTERVAL);
            loop {
                tick.tick().await;
                state.refresh_service_counts().await;
                state.metrics().run_upkeep();
                state.endpoints().sweep_idle_connections();
            }
        })
    };

    let worker = match queue::start_worker(&state) {
        Ok(worker) => worker,
        Err(e) => {
            tracing::error!(error = %e, "the async worker could not start: calls are only queued");
            None
        }
    };

    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = Arc::new(Connection {
                    state: state.clone(),
                    router: router.clone(),
                    peer: proxy::Peer::new(remote),
                });
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let connection = Arc::clone(&connection);
                    async move { Ok::<_, Infallible>(dispatch(connection, req).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, %remote, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    background.abort();
    tracing::info!(timeout = ?config.shutdown_timeout, "shutting down: waiting for in-flight requests");
    let worker_stopped = async {
        if let Some(worker) = worker {
            worker.shutdown().await;
            tracing::info!("async worker stopped");
        }
    };
    let drained = async { tokio::join!(graceful.shutdown(), worker_stopped) };
    if tokio::time::timeout(config.shutdown_timeout, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight requests or async calls did not finish within the shutdown timeout; \
             closing them (unsettled async calls are delivered again)"
        );
    }
    Ok(())
}
