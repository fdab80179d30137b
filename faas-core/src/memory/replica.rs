//! One replica of a `MemoryProvider` function: an HTTP/1.1 server on 127.0.0.1 that behaves
//! like the classic watchdog in front of the function's (emulated) command.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::logs::LogBuffer;
use super::watchdog::{self, Invocation};
use crate::error::{Error, Result};
use crate::model::{Endpoint, FunctionDeployment};

/// Looks up the current bytes of a secret of the function's namespace by name.
pub(crate) type SecretLookup = Arc<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

/// What every replica of one function shares.
#[derive(Clone)]
pub(crate) struct FunctionContext {
    /// The current spec; an update swaps it and every replica serves the new one.
    pub(crate) spec: watch::Receiver<Arc<FunctionDeployment>>,
    pub(crate) logs: Arc<LogBuffer>,
    pub(crate) secrets: SecretLookup,
    /// The largest request body accepted (further capped by `limits.memory`).
    pub(crate) max_body_bytes: usize,
}

impl std::fmt::Debug for FunctionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionContext")
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// A running replica. Dropping it stops the server; [`Replica::stop`] also waits until the
/// port no longer accepts connections.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) instance: String,
    pub(crate) endpoint: Endpoint,
    ready: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Replica {
    /// Binds 127.0.0.1:0 and starts serving. The replica answers the health check with 503
    /// until [`Replica::set_ready`].
    pub(crate) fn start(instance: String, ctx: FunctionContext) -> Result<Self> {
        let bind = || -> std::io::Result<TcpListener> {
            let std_listener =
                std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            std_listener.set_nonblocking(true)?;
            TcpListener::from_std(std_listener)
        };
        let listener = bind().map_err(|e| {
            Error::unavailable("cannot bind a replica port on 127.0.0.1").with_source(e)
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::internal("replica listener has no address").with_source(e))?
            .port();
        let ready = Arc::new(AtomicBool::new(false));
        let state = Arc::new(ReplicaState {
            instance: instance.clone(),
            ready: ready.clone(),
            ctx,
        });
        let task = tokio::spawn(serve(listener, state));
        Ok(Self {
            endpoint: Endpoint::new(Ipv4Addr::LOCALHOST.to_string(), port, instance.clone()),
            instance,
            ready,
            task,
        })
    }

    /// Marks the replica ready: its health check answers 200.
    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the replica is ready.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Stops the server and waits until its listener and connections are closed.
    pub(crate) async fn stop(mut self) {
        self.task.abort();
        // The task's future (listener, connections) is dropped before the handle resolves.
        let _ = (&mut self.task).await;
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct ReplicaState {
    instance: String,
    ready: Arc<AtomicBool>,
    ctx: FunctionContext,
}

async fn serve(listener: TcpListener, state: Arc<ReplicaState>) {
    // Connections live in this set so that stopping the replica closes them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = state.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |req| handle(state.clone(), req));
                        if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                            tracing::debug!(error = %e, "replica connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, instance = %state.instance, "replica accept failed");
                    // Back off from a persistent accept error (e.g. out of file descriptors).
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

async fn handle(
    state: Arc<ReplicaState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/_/health" {
        return Ok(if state.ready.load(Ordering::Acquire) {
            text(StatusCode::OK, "OK")
        } else {
            text(StatusCode::SERVICE_UNAVAILABLE, "not ready")
        });
    }
    if ![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ]
    .contains(req.method())
    {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
    }
    let spec = state.ctx.spec.borrow().clone();
    let limit = spec
        .limits
        .as_ref()
        .and_then(|l| memory_bytes(&l.memory))
        .map_or(state.ctx.max_body_bytes, |m| {
            m.min(state.ctx.max_body_bytes)
        });
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than {limit} bytes\n"),
            ));
        }
        Err(e) => {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {e}\n"),
            ));
        }
    };

    let logs = &state.ctx.logs;
    logs.push(&state.instance, "Forking fprocess.");
    let started = Instant::now();
    let inv = Invocation {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let outcome = watchdog::run(&spec, &inv, |name| (state.ctx.secrets)(name));
    let seconds = started.elapsed().as_secs_f64();
    logs.push(
        &state.instance,
        format!(
            "Wrote {} Bytes - Duration: {seconds:.6}s",
            outcome.body.len()
        ),
    );

    let content_type = spec
        .env_vars
        .get("content_type")
        .and_then(|v| HeaderValue::from_str(v).ok())
        .or_else(|| parts.headers.get(header::CONTENT_TYPE).cloned())
        .unwrap_or_else(|| HeaderValue::from_static("text/plain; charset=utf-8"));
    let mut resp = Response::new(Full::new(Bytes::from(outcome.body)));
    *resp.status_mut() = outcome.status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    if let Ok(v) = HeaderValue::from_str(&format!("{seconds:.6}")) {
        resp.headers_mut().insert("x-duration-seconds", v);
    }
    Ok(resp)
}

/// Bytes of a Kubernetes memory quantity (`5Mi`, `128M`, `1Gi`, `1e6`); `None` when empty or
/// not a plain size.
pub(crate) fn memory_bytes(quantity: &str) -> Option<usize> {
    let q = quantity.trim();
    let end = q
        .bytes()
        .position(|c| !(c.is_ascii_digit() || c == b'.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(end);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        s => {
            let exp: i32 = s.strip_prefix(['e', 'E'])?.parse().ok()?;
            10f64.powi(exp)
        }
    };
    let bytes = number * factor;
    // Saturating float-to-int conversion is the intent here.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(bytes.min(usize::MAX as f64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_quantities_parse_to_bytes() {
        assert_eq!(memory_bytes("5Mi"), Some(5 * 1024 * 1024));
        assert_eq!(memory_bytes("128M"), Some(128_000_000));
        assert_eq!(memory_bytes("1e3"), Some(1000));
        assert_eq!(memory_bytes("512"), Some(512));
        assert_eq!(memory_bytes(""), None);
        assert_eq!(memory_bytes("100m"), None);
    }
}
