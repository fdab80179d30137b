//! Real HTTP servers on 127.0.0.1 for the tests: a callback receiver and a stand-in gateway
//! whose `/function/<name>.<ns>` route runs a few behaviours.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod host;
pub mod suite;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let h = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let h = h.clone();
                    async move { Ok::<_, Infallible>(h(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// One callback as received.
#[derive(Debug, Clone)]
pub struct Callback {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Callback {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Debug, Default)]
pub struct Receiver {
    addr: std::sync::OnceLock<SocketAddr>,
    got: Mutex<Vec<Callback>>,
    changed: Notify,
}

impl Receiver {
    pub async fn start() -> Arc<Receiver> {
        let r = Arc::new(Receiver::default());
        let r2 = r.clone();
        let addr = serve(move |req: Request<Incoming>| {
            let r = r2.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                r.got.lock().expect("lock").push(Callback {
                    headers: parts.headers,
                    body,
                });
                r.changed.notify_waiters();
                Response::new(Full::new(Bytes::new()))
            }
        })
        .await;
        r.addr.set(addr).expect("set once");
        r
    }

    pub fn url(&self) -> String {
        format!("http://{}/done", self.addr.get().expect("started"))
    }

    pub fn all(&self) -> Vec<Callback> {
        self.got.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.got.lock().expect("lock").len()
    }

    pub fn distinct_ids(&self) -> HashSet<String> {
        self.all()
            .iter()
            .map(|c| c.header("x-call-id").to_owned())
            .collect()
    }

    /// Waits until `pred` holds over the callbacks, or panics after `deadline`.
    pub async fn wait_until(
        &self,
        deadline: Duration,
        what: &str,
        pred: impl Fn(&[Callback]) -> bool,
    ) {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if pred(&self.got.lock().expect("lock")) {
                return;
            }
            if tokio::time::timeout_at(end, notified).await.is_err() {
                let n = self.count();
                panic!("timed out waiting for {what} ({n} callbacks received)");
            }
        }
    }
}

/// A stand-in gateway: `/function/<name>.<ns><path>` with behaviours by name:
/// - `echo`: 200, body `echo:<METHOD> <path>?<query> <body>`, header `X-Echo: yes`, copies
///   `X-Custom` back as `X-Custom-Seen`.
/// - `flaky`: 503 for the first two attempts of each call id, then 200 `ok`.
/// - `broken`: 503 until [`Functions::heal`], then 200 `healed`.
/// - `slow`: sleeps [`Functions::slow_ms`] then 200 `slow`.
#[derive(Debug, Default)]
pub struct Functions {
    addr: std::sync::OnceLock<SocketAddr>,
    pub calls: Mutex<HashMap<String, u64>>,
    per_id: Mutex<HashMap<String, u64>>,
    healed: AtomicBool,
    pub slow_ms: AtomicU64,
}

impl Functions {
    pub async fn start() -> Arc<Functions> {
        let f = Arc::new(Functions::default());
        let f2 = f.clone();
        let addr = serve(move |req: Request<Incoming>| {
            let f = f2.clone();
            async move { f.handle(req).await }
        })
        .await;
        f.addr.set(addr).expect("set once");
        f
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr.get().expect("started"))
    }

    pub fn heal(&self) {
        self.healed.store(true, Ordering::SeqCst);
    }

    pub fn calls_of(&self, name: &str) -> u64 {
        self.calls
            .lock()
            .expect("lock")
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let path = parts.uri.path().to_owned();
        let rest = path.strip_prefix("/function/").unwrap_or("");
        let (target, sub) = rest
            .split_once('/')
            .map(|(a, b)| (a, format!("/{b}")))
            .unwrap_or((rest, String::new()));
        let name = target.split('.').next().unwrap_or("").to_owned();
        *self
            .calls
            .lock()
            .expect("lock")
            .entry(name.clone())
            .or_default() += 1;
        let id = parts
            .headers
            .get("x-call-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let attempt = {
            let mut m = self.per_id.lock().expect("lock");
            let n = m.entry(id).or_default();
            *n += 1;
            *n
        };
        let respond = |status: StatusCode, text: String| {
            let mut r = Response::new(Full::new(Bytes::from(text)));
            *r.status_mut() = status;
            r
        };
        match name.as_str() {
            "echo" => {
                let mut r = respond(
                    StatusCode::OK,
                    format!(
                        "echo:{} {}?{} {}",
                        parts.method,
                        sub,
                        parts.uri.query().unwrap_or(""),
                        String::from_utf8_lossy(&body)
                    ),
                );
                r.headers_mut()
                    .insert("x-echo", http::HeaderValue::from_static("yes"));
                if let Some(v) = parts.headers.get("x-custom") {
                    r.headers_mut().insert("x-custom-seen", v.clone());
                }
                r
            }
            "flaky" if attempt <= 2 => respond(StatusCode::SERVICE_UNAVAILABLE, "not yet".into()),
            "flaky" => respond(StatusCode::OK, "ok".into()),
            "broken" if self.healed.load(Ordering::SeqCst) => {
                respond(StatusCode::OK, "healed".into())
            }
            "broken" => respond(StatusCode::SERVICE_UNAVAILABLE, "down".into()),
            "slow" => {
                tokio::time::sleep(Duration::from_millis(self.slow_ms.load(Ordering::SeqCst)))
                    .await;
                respond(StatusCode::OK, "slow".into())
            }
            _ => respond(StatusCode::NOT_FOUND, "no such function".into()),
        }
    }
}

/// A worker config with fast retries for tests.
pub fn fast_worker(max_attempts: u32) -> faas_queue::WorkerConfig {
    let mut c = faas_queue::WorkerConfig::default();
    c.max_attempts = max_attempts;
    c.backoff = faas_queue::Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        ..faas_queue::Backoff::default()
    };
    c.callback_backoff = c.backoff;
    c.lease_refresh = Duration::from_millis(500);
    c
}

/// Polls `probe` until it returns `Some`, or panics after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if tokio::time::Instant::now() >= end {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
