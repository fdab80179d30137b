//! Pooled keep-alive HTTP/1.1 connections to one function replica.
//!
//! Each [`crate::endpoints::Replica`] owns an [`UpstreamPool`]: a lock-free queue of idle
//! hyper connections (`hyper::client::conn::http1`, at most [`PoolSettings::max_idle`]), so
//! the request path takes no lock and hashes no pool key. A call pops an idle connection (or
//! opens one), sends its request, and hands the connection back when the response body has
//! been read to its end ([`Checkout`], held by the response body). A connection that the replica closed while
//! idle is skipped; a request it refused before anything was written is sent again on
//! another connection, as hyper-util's pooled client does, and so, once, is a bodiless GET,
//! HEAD, OPTIONS or TRACE whose kept-alive connection (idle for 100 ms or more) the replica
//! closed under it (its idle timeout racing the call), as Go's `http.Transport` does. Idle connections older than the
//! idle timeout are closed on their next use or by [`UpstreamPool::sweep`]; a replica that
//! leaves the cache takes its connections with it.
//!
//! hyper-util's pooled client costs a mutex-guarded `HashMap` lookup on each checkout and
//! check-in and one spawned task per call (to return the connection once it is idle again);
//! here the connection goes back from the response body itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_queue::SegQueue;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::proxy::LimitedBody;

/// How the gateway connects to replicas (`--upstream-connect-timeout`,
/// `--upstream-idle-timeout`, `--max-idle-conns-per-host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Time allowed to open a TCP connection.
    pub connect_timeout: Duration,
    /// An idle connection older than this is closed instead of reused.
    pub idle_timeout: Duration,
    /// Idle connections kept per replica (OpenFaaS's `max_idle_conns_per_host`); more are
    /// closed when handed back, and 0 keeps none.
    pub max_idle: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            // Below the idle timeouts of common function servers (Node.js 5 s, of-watchdog
            // 10 s, faas-watchdog 30 s): a connection is retired before its replica closes it.
            idle_timeout: Duration::from_secs(4),
            max_idle: 1024,
        }
    }
}

/// How long a connection must have been idle before a call on it keeps a copy to replay (no
/// replica's own idle timeout is this short).
const REPLAY_AFTER_IDLE: Duration = Duration::from_millis(100);

/// A copy of `req` to send again if it is safe to: an idempotent method without a body.
fn replayable(req: &Request<LimitedBody>) -> Option<Request<LimitedBody>> {
    let idempotent = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if !idempotent || !http_body::Body::is_end_stream(req.body()) {
        return None;
    }
    let mut again = Request::new(req.body().empty_like());
    *again.method_mut() = req.method().clone();
    *again.uri_mut() = req.uri().clone();
    *again.version_mut() = req.version();
    *again.headers_mut() = req.headers().clone();
    Some(again)
}

/// Why a call could not be sent or answered.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The TCP connection could not be opened.
    #[error("connecting to {authority} failed: {source}")]
    Connect {
        /// The replica's `host:port`.
        authority: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TCP connection was not open within the connect timeout.
    #[error("connecting to {authority} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The replica's `host:port`.
        authority: String,
        /// The connect timeout.
        timeout: Duration,
    },
    /// The HTTP exchange failed (refused, reset, malformed, or the request body failed).
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// A call that failed; with its request when none of it reached the replica (a connection
/// that could not be opened, say), so that it can be sent to another replica.
#[derive(Debug)]
pub struct SendFailure {
    /// What went wrong.
    pub error: UpstreamError,
    /// The request, when nothing of it was written.
    pub unsent: Option<Request<LimitedBody>>,
}

impl SendFailure {
    fn unsent(error: UpstreamError, req: Request<LimitedBody>) -> Self {
        Self {
            error,
            unsent: Some(req),
        }
    }
}

struct Idle {
    sender: SendRequest<LimitedBody>,
    since: Instant,
}

/// The idle connections of one replica.
pub struct UpstreamPool {
    authority: String,
    settings: PoolSettings,
    idle: SegQueue<Idle>,
}

impl std::fmt::Debug for UpstreamPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamPool")
            .field("authority", &self.authority)
            .field("idle", &self.idle.len())
            .finish_non_exhaustive()
    }
}

/// A connection lent to one call: handed back by [`UpstreamPool::release`] once the
/// response has been read to its end, closed when dropped instead.
#[derive(Debug)]
pub struct Checkout {
    sender: SendRequest<LimitedBody>,
    /// The request body's "sent whole" flag (`None`: no body).
    request_sent: Option<Arc<AtomicBool>>,
}

impl UpstreamPool {
    /// An empty pool for the replica at `authority` (`host:port`).
    pub fn new(authority: String, settings: PoolSettings) -> Self {
        Self {
            idle: SegQueue::new(),
            authority,
            settings,
        }
    }

    /// Idle connections right now.
    pub fn idle(&self) -> usize {
        self.idle.len()
    }

    /// Sends `req` (origin-form URI, `Host` set) on an idle connection, or a new one, and
    /// returns the response head with the connection to hand back.
    pub async fn send(
        &self,
        mut req: Request<LimitedBody>,
    ) -> Result<(Response<Incoming>, Checkout), SendFailure> {
        let mut replayed = false;
        loop {
            let (mut sender, idle_for) = match self.pop() {
                Some((sender, idle_for)) => (sender, Some(idle_for)),
                None => match self.connect().await {
                    Ok(sender) => (sender, None),
                    Err(error) => return Err(SendFailure::unsent(error, req)),
                },
            };
            let reused = idle_for.is_some();
            // A reused connection may still be finishing the previous response.
            if let Err(e) = sender.ready().await {
                if reused {
                    continue;
                }
                return Err(SendFailure::unsent(e.into(), req));
            }
            // A kept-alive connection can be closed by the replica (its idle timeout) just as
            // a request goes out on it. A bodiless GET, HEAD, OPTIONS or TRACE is then sent
            // once more on another connection, as Go's http.Transport does; a request with a
            // body or another method is not (it may have taken effect). Only a connection
            // that sat idle a while is at risk, so only then is the copy made: under load
            // connections come back within microseconds and calls pay nothing.
            let replay = match idle_for {
                Some(idle) if idle >= REPLAY_AFTER_IDLE && !replayed => replayable(&req),
                _ => None,
            };
            let request_sent = req.body().sent_flag();
            match sender.try_send_request(req).await {
                Ok(response) => {
                    return Ok((
                        response,
                        Checkout {
                            sender,
                            request_sent,
                        },
                    ));
                }
                Err(mut e) => match e.take_message() {
                    // Nothing was written: a kept-alive connection the replica had closed.
                    Some(unsent) if reused => req = unsent,
                    Some(unsent) => return Err(SendFailure::unsent(e.into_error().into(), unsent)),
                    None => {
                        let error = e.into_error();
                        match replay {
                            // No response head came: the connection was closed (EOF) or
                            // reset (RST) under the request, unless the replica sent garbage.
                            Some(again) if !error.is_user() && !error.is_parse() => {
                                tracing::debug!(authority = %self.authority, "kept-alive connection closed under a request; sending it again");
                                replayed = true;
                                req = again;
                            }
                            _ => {
                                return Err(SendFailure {
                                    error: error.into(),
                                    unsent: None,
                                });
                            }
                        }
                    }
                },
            }
        }
    }

    /// An idle connection that is still open and not too old, with how long it was idle.
    fn pop(&self) -> Option<(SendRequest<LimitedBody>, Duration)> {
        while let Some(idle) = self.idle.pop() {
            let idle_for = idle.since.elapsed();
            if !idle.sender.is_closed() && idle_for < self.settings.idle_timeout {
                return Some((idle.sender, idle_for));
            }
        }
        None
    }

    async fn connect(&self) -> Result<SendRequest<LimitedBody>, UpstreamError> {
        let timeout = self.settings.connect_timeout;
        let stream = match tokio::time::timeout(
            timeout,
            TcpStream::connect(self.authority.as_str()),
        )
        .await
        {
            Err(_) => {
                return Err(UpstreamError::ConnectTimeout {
                    authority: self.authority.clone(),
                    timeout,
                });
            }
            Ok(Err(source)) => {
                return Err(UpstreamError::Connect {
                    authority: self.authority.clone(),
                    source,
                });
            }
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?;
        let authority = self.authority.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %authority, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// Hands a connection back after its response was read to the end.
    pub fn release(&self, checkout: Checkout) {
        // A request still uploading (the replica answered before reading it all) keeps the
        // connection busy for as long as the caller takes: it is not lent out again but
        // closed once the upload ends.
        let uploading = checkout
            .request_sent
            .as_ref()
            .is_some_and(|sent| !sent.load(Ordering::Acquire));
        if uploading || checkout.sender.is_closed() {
            return;
        }
        // Beyond `max_idle` (checked loosely: concurrent hand-backs may pass it by a few) the
        // connection is dropped, which closes it.
        if self.idle.len() < self.settings.max_idle {
            self.idle.push(Idle {
                sender: checkout.sender,
                since: Instant::now(),
            });
        }
    }

    /// Closes the idle connections older than the idle timeout or already closed by the
    /// replica, and all but `keep` of the rest: the pool shrinks to what the calls of the
    /// last interval needed at once (its queue is first in, first out, so light traffic
    /// alone would keep every connection of a past burst fresh). Run periodically.
    pub fn sweep(&self, keep: usize) {
        let mut kept = 0;
        for _ in 0..self.idle.len() {
            let Some(idle) = self.idle.pop() else { break };
            if kept < keep
                && !idle.sender.is_closed()
                && idle.since.elapsed() < self.settings.idle_timeout
            {
                kept += 1;
                self.idle.push(idle);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    use super::*;
    use crate::proxy::RequestBody;

    /// A replica answering `body_len` bytes of `x` to every request, counting the TCP
    /// connections it accepted; with `close`, it closes each connection after one answer.
    async fn replica(body_len: usize, close: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| async move {
                        let mut response =
                            Response::new(Full::new(Bytes::from(vec![b'x'; body_len])));
                        if close {
                            response.headers_mut().insert(
                                http::header::CONNECTION,
                                http::HeaderValue::from_static("close"),
                            );
                        }
                        Ok::<_, Infallible>(response)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, accepted)
    }

    fn request(addr: SocketAddr) -> Request<LimitedBody> {
        Request::builder()
            .uri("/")
            .header(http::header::HOST, addr.to_string())
            .body(LimitedBody::new(
                RequestBody::Full(Some(Bytes::new())),
                1024,
            ))
            .unwrap()
    }

    fn pool(addr: SocketAddr, settings: PoolSettings) -> UpstreamPool {
        UpstreamPool::new(addr.to_string(), settings)
    }

    /// One call read to its end and handed back; returns the body length.
    async fn call(pool: &UpstreamPool, addr: SocketAddr) -> usize {
        let (response, checkout) = pool.send(request(addr)).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        pool.release(checkout);
        body.len()
    }

    /// `n` calls in flight at once (each holds its connection until all have one), each read
    /// to its end and handed back.
    async fn at_once(pool: &Arc<UpstreamPool>, addr: SocketAddr, n: usize) {
        let barrier = Arc::new(tokio::sync::Barrier::new(n));
        let mut calls = Vec::new();
        for _ in 0..n {
            let (pool, barrier) = (Arc::clone(pool), Arc::clone(&barrier));
            calls.push(tokio::spawn(async move {
                let (response, checkout) = pool.send(request(addr)).await.unwrap();
                barrier.wait().await;
                response.into_body().collect().await.unwrap();
                pool.release(checkout);
            }));
        }
        for c in calls {
            c.await.unwrap();
        }
    }

    #[tokio::test]
    async fn sequential_calls_share_one_kept_alive_connection() {
        let (addr, accepted) = replica(2, false).await;
        let pool = pool(addr, PoolSettings::default());
        for _ in 0..20 {
            assert_eq!(call(&pool, addr).await, 2);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle(), 1);
    }

    #[tokio::test]
    async fn concurrent_calls_open_connections_and_keep_at_most_max_idle() {
        let (addr, accepted) = replica(2, false).await;
        let pool = Arc::new(pool(
            addr,
            PoolSettings {
                max_idle: 3,
                ..PoolSettings::default()
            },
        ));
        at_once(&pool, addr, 8).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 8);
        assert_eq!(pool.idle(), 3, "hand-backs beyond max_idle are closed");
        // The kept ones serve the next calls without new connections.
        for _ in 0..3 {
            call(&pool, addr).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn a_sweep_keeps_only_as_many_idle_connections_as_asked() {
        let (addr, _) = replica(2, false).await;
        let pool = Arc::new(pool(addr, PoolSettings::default()));
        at_once(&pool, addr, 6).await;
        assert_eq!(pool.idle(), 6);
        pool.sweep(6);
        assert_eq!(pool.idle(), 6, "all needed");
        pool.sweep(2);
        assert_eq!(pool.idle(), 2, "shrunk to the need");
    }

    #[tokio::test]
    async fn max_idle_zero_keeps_no_connection() {
        let (addr, accepted) = replica(2, false).await;
        let pool = pool(
            addr,
            PoolSettings {
                max_idle: 0,
                ..PoolSettings::default()
            },
        );
        for _ in 0..3 {
            call(&pool, addr).await;
            assert_eq!(pool.idle(), 0);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_connection_the_replica_closes_is_not_reused() {
        let (addr, accepted) = replica(2, true).await;
        let pool = pool(addr, PoolSettings::default());
        for _ in 0..5 {
            assert_eq!(call(&pool, addr).await, 2);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_response_dropped_before_its_end_is_not_handed_back() {
        let (addr, accepted) = replica(4 * 1024 * 1024, false).await;
        let pool = pool(addr, PoolSettings::default());
        let (response, checkout) = pool.send(request(addr)).await.unwrap();
        let mut body = response.into_body();
        body.frame().await.unwrap().unwrap();
        drop(body);
        drop(checkout);
        assert_eq!(pool.idle(), 0);
        assert_eq!(call(&pool, addr).await, 4 * 1024 * 1024);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn idle_connections_past_the_idle_timeout_are_closed() {
        let (addr, accepted) = replica(2, false).await;
        let pool = pool(
            addr,
            PoolSettings {
                idle_timeout: Duration::from_millis(50),
                ..PoolSettings::default()
            },
        );
        call(&pool, addr).await;
        assert_eq!(pool.idle(), 1);
        tokio::time::sleep(Duration::from_millis(80)).await;
        pool.sweep(usize::MAX);
        assert_eq!(pool.idle(), 0, "swept");
        call(&pool, addr).await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        call(&pool, addr).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            3,
            "a too-old idle one is never reused"
        );
    }

    /// A replica that answers the first request of each connection (kept alive) and closes
    /// the connection, unanswered, when the second request arrives: the idle-timeout race.
    /// It closes with a reset (RST) when `reset`.
    async fn drops_second_request(reset: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    let mut heads = 0;
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            heads += 1;
                            if heads == 2 {
                                if reset {
                                    let _ = stream.set_zero_linger();
                                }
                                return; // dropped: closed under the request
                            }
                            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if stream.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    /// A GET on a kept-alive connection that the replica drops under it (closed or `reset`)
    /// succeeds on a second connection.
    async fn get_is_sent_again_when_dropped(reset: bool) {
        let (addr, accepted) = drops_second_request(reset).await;
        let pool = pool(addr, PoolSettings::default());
        assert_eq!(call(&pool, addr).await, 2);
        // Idle long enough to be at risk of the replica's idle timeout.
        tokio::time::sleep(REPLAY_AFTER_IDLE).await;
        // Reuses the kept-alive connection, which the replica drops; sent again on a new one.
        assert_eq!(call(&pool, addr).await, 2);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_bodiless_get_is_sent_again_when_its_kept_alive_connection_closes_under_it() {
        get_is_sent_again_when_dropped(false).await;
    }

    #[tokio::test]
    async fn a_bodiless_get_is_sent_again_when_its_kept_alive_connection_is_reset_under_it() {
        get_is_sent_again_when_dropped(true).await;
    }

    #[tokio::test]
    async fn a_request_with_a_body_is_not_sent_again() {
        let (addr, accepted) = drops_second_request(false).await;
        let pool = pool(addr, PoolSettings::default());
        assert_eq!(call(&pool, addr).await, 2);
        tokio::time::sleep(REPLAY_AFTER_IDLE).await;
        let mut post = request(addr);
        *post.method_mut() = Method::POST;
        *post.body_mut() = LimitedBody::new(RequestBody::Full(Some(Bytes::from("x"))), 1024);
        let err = pool.send(post).await.unwrap_err().error;
        assert!(
            matches!(&err, UpstreamError::Http(e) if e.is_incomplete_message()),
            "{err:?}"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "not sent again");
    }

    #[tokio::test]
    async fn a_replica_that_does_not_accept_is_a_connect_timeout() {
        // A listener that never accepts, its accept queue (backlog 0: one slot) filled first:
        // the kernel drops further SYNs, so a connect hangs.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        let _listener = socket.listen(0).unwrap();
        let mut fillers = Vec::new();
        for _ in 0..2 {
            fillers.push(tokio::spawn(TcpStream::connect(addr)));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let timeout = Duration::from_millis(200);
        let pool = pool(
            addr,
            PoolSettings {
                connect_timeout: timeout,
                ..PoolSettings::default()
            },
        );
        let started = Instant::now();
        let failure = pool.send(request(addr)).await.unwrap_err();
        assert!(failure.unsent.is_some(), "nothing was sent");
        let err = failure.error;
        assert!(
            matches!(err, UpstreamError::ConnectTimeout { timeout: t, .. } if t == timeout),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        for f in fillers {
            f.abort();
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let pool = pool(addr, PoolSettings::default());
        let failure = pool.send(request(addr)).await.unwrap_err();
        assert!(failure.unsent.is_some(), "nothing was sent");
        let err = failure.error;
        assert!(matches!(err, UpstreamError::Connect { .. }), "{err}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
