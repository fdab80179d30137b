//! [`Watchdog`]: the hyper server, request routing, `max_inflight`, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::body::WatchdogBody;
use crate::config::{Mode, WatchdogConfig};
use crate::error::Error;
use crate::health::{Health, HealthHandle};
use crate::launcher::Launcher;
use crate::logs::{LogSink, LogSource};
use crate::proxy::Proxy;
use crate::{fork, supervisor};

/// State shared by every connection and request of one watchdog.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: WatchdogConfig,
    pub(crate) argv: Vec<String>,
    pub(crate) launcher: Arc<dyn Launcher>,
    pub(crate) sink: Arc<dyn LogSink>,
    pub(crate) health: Health,
    pub(crate) content_type: HeaderValue,
    inflight: AtomicUsize,
    pub(crate) proxy: Option<Proxy>,
}

impl Shared {
    pub(crate) fn log(&self, text: &str) {
        self.sink.line(LogSource::Watchdog, text);
    }
}

/// Counts one call against `max_inflight` until dropped.
#[derive(Debug)]
pub(crate) struct InflightGuard(Option<Arc<Shared>>);

impl InflightGuard {
    /// `None` when the limit is reached. No lock: one atomic add (and none when unlimited).
    fn acquire(shared: &Arc<Shared>) -> Option<Self> {
        let max = shared.config.max_inflight;
        if max == 0 {
            return Some(Self(None));
        }
        if shared.inflight.fetch_add(1, Ordering::AcqRel) >= max {
            shared.inflight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self(Some(Arc::clone(shared))))
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        if let Some(shared) = &self.0 {
            shared.inflight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// One watchdog: serves the function on a listener until told to stop.
#[derive(Debug)]
pub struct Watchdog {
    shared: Arc<Shared>,
}

impl Watchdog {
    /// A watchdog for `config`, spawning processes through `launcher` and sending output lines
    /// to `sink`. Nothing runs until [`Watchdog::serve`].
    pub fn new(
        config: WatchdogConfig,
        launcher: Arc<dyn Launcher>,
        sink: Arc<dyn LogSink>,
    ) -> Self {
        let content_type = HeaderValue::from_str(&config.content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
        let proxy = match (config.mode, &config.upstream_url) {
            (Mode::Http, Some(url)) => Some(Proxy::new(url)),
            _ => None,
        };
        let shared = Shared {
            argv: config.argv(),
            health: Health::new(config.lock_file.clone()),
            config,
            launcher,
            sink,
            content_type,
            inflight: AtomicUsize::new(0),
            proxy,
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// A handle reporting readiness (and its changes) of this watchdog.
    pub fn health(&self) -> HealthHandle {
        self.shared.health.handle()
    }

    /// Serves on `listener` until `shutdown` resolves. Then health turns 503 (lock file removed),
    /// calls are still accepted for `healthcheck_interval`, the listener closes, in-flight calls
    /// get up to `write_timeout` to finish, and the http-mode process group is stopped.
    ///
    /// Fails at once if the configuration is invalid (see [`WatchdogConfig::validate`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let shared = self.shared;
        shared.config.validate()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let supervisor = match shared.config.mode {
            Mode::Http => Some(tokio::spawn(supervisor::run(Arc::clone(&shared), stop_rx))),
            Mode::Streaming | Mode::Serializing => {
                shared.health.set_ready(true);
                None
            }
        };

        let mut server = Server::new(Arc::clone(&shared));
        let mut shutdown = std::pin::pin!(shutdown);
        server.accept_until(&listener, &mut shutdown).await;

        // Shutdown: unhealthy first, so load balancers stop sending; keep serving meanwhile.
        shared.health.close();
        shared.log("SIGTERM: no new connections in a moment; draining in-flight calls");
        let grace = shared.config.healthcheck_interval;
        if !grace.is_zero() {
            server
                .accept_until(&listener, &mut std::pin::pin!(tokio::time::sleep(grace)))
                .await;
        }
        drop(listener);
        let drained =
            tokio::time::timeout(shared.config.write_timeout, server.graceful.shutdown()).await;
        if drained.is_err() {
            shared.log("write_timeout reached while draining: aborting the remaining calls");
        }
        server.connections.abort_all();
        let _ = stop_tx.send(true);
        if let Some(supervisor) = supervisor {
            let _ = supervisor.await;
        }
        Ok(())
    }
}

/// The accept loop's state: connection builder, graceful tracking, connection tasks.
struct Server {
    shared: Arc<Shared>,
    builder: http1::Builder,
    graceful: GracefulShutdown,
    connections: JoinSet<()>,
}

impl Server {
    fn new(shared: Arc<Shared>) -> Self {
        let mut builder = http1::Builder::new();
        builder
            .keep_alive(true)
            .timer(TokioTimer::new())
            .header_read_timeout(Some(shared.config.read_timeout).filter(|d| !d.is_zero()));
        Self {
            shared,
            builder,
            graceful: GracefulShutdown::new(),
            connections: JoinSet::new(),
        }
    }

    async fn accept_until<F: Future<Output = ()>>(
        &mut self,
        listener: &TcpListener,
        stop: &mut std::pin::Pin<&mut F>,
    ) {
        loop {
            tokio::select! {
                biased;
                () = stop.as_mut() => return,
                Some(_) = self.connections.join_next(), if !self.connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        let _ = stream.set_nodelay(true);
                        let shared = Arc::clone(&self.shared);
                        let service = service_fn(move |req| handle(Arc::clone(&shared), req));
                        let conn = self.builder.serve_connection(TokioIo::new(stream), service);
                        let conn = self.graceful.watch(conn);
                        self.connections.spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                        });
                    }
                    Err(e) => {
                        // Typically EMFILE: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
            }
        }
    }
}

pub(crate) fn status_response(status: StatusCode, text: &'static str) -> Response<WatchdogBody> {
    let mut resp = Response::new(WatchdogBody::full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<WatchdogBody>, Infallible> {
    let path = req.uri().path();
    if path.starts_with("/_/") {
        match path {
            "/_/health" => return Ok(health(&shared, &req, false)),
            "/_/ready" => return Ok(health(&shared, &req, true)),
            _ => {}
        }
    }
    let Some(guard) = InflightGuard::acquire(&shared) else {
        return Ok(status_response(
            StatusCode::TOO_MANY_REQUESTS,
            "Concurrent request limit exceeded.\n",
        ));
    };
    let resp = match &shared.proxy {
        Some(proxy) => proxy.call(&shared, req, guard).await,
        None => fork::call(&shared, req, guard).await,
    };
    Ok(resp)
}

fn health(shared: &Shared, req: &Request<Incoming>, ready_probe: bool) -> Response<WatchdogBody> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return status_response(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed\n");
    }
    if !shared.health.healthy() {
        return status_response(StatusCode::SERVICE_UNAVAILABLE, "Not ready\n");
    }
    let max = shared.config.max_inflight;
    if ready_probe && max > 0 && shared.inflight.load(Ordering::Acquire) >= max {
        return status_response(StatusCode::TOO_MANY_REQUESTS, "At capacity\n");
    }
    status_response(StatusCode::OK, "OK")
}
