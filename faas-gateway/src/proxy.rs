//! The invocation hot path: `/function/{name}[.{namespace}][/{path}]` streamed to a replica.
//!
//! A raw hyper handler (no router): the request body streams to the replica through a
//! size-limited wrapper, the response streams back as it arrives (chunked and server-sent
//! events included), the method, sub-path and raw query pass byte for byte, hop-by-hop headers
//! are dropped both ways, `X-Forwarded-For`/`X-Forwarded-Host` are added when absent, and every
//! response carries `X-Call-Id` (the caller's when sent) and `X-Start-Time` (Unix ns).
//! Redirects are passed to the caller, never followed.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;

use crate::endpoints::{FunctionEntry, Lease};
use crate::error::GatewayError;
use crate::state::AppState;
use crate::upstream::{Checkout, UpstreamError};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The path prefix of synchronous invocations.
pub const FUNCTION_PREFIX: &str = "/function/";
/// The call id header.
pub const X_CALL_ID: HeaderName = HeaderName::from_static("x-call-id");
/// The start time header (Unix nanoseconds).
pub const X_START_TIME: HeaderName = HeaderName::from_static("x-start-time");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Splits `/function/<segment>[/<tail>]` into the function segment and the tail (which
/// starts with `/` or is empty).
fn split_path(path: &str) -> (&str, &str) {
    split_under(path, FUNCTION_PREFIX)
}

/// Splits `<prefix><segment>[/<tail>]` into the segment and the tail (`/…` or empty); the
/// shape of both invocation routes (`/function/`, `/async-function/`).
pub(crate) fn split_under<'a>(path: &'a str, prefix: &str) -> (&'a str, &'a str) {
    let rest = path.strip_prefix(prefix).unwrap_or("");
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    }
}

/// The `(name, namespace)` a route's function segment names, when both are valid; `None`
/// means "no such function" (404) on either invocation route.
pub(crate) fn function_of<'a>(
    segment: &'a str,
    default_namespace: &'a str,
) -> Option<(&'a str, &'a str)> {
    let (name, namespace) = split_name(segment, default_namespace);
    // `name.` names no namespace: no function (it would alias `name` under another key).
    let valid = !name.is_empty()
        && !namespace.is_empty()
        && faas_core::validate::function_name("name", name).is_ok()
        && faas_core::validate::namespace("namespace", namespace).is_ok();
    valid.then_some((name, namespace))
}

/// The calling side of a connection: its address as an `X-Forwarded-For` value, formatted
/// once per connection rather than once per request.
#[derive(Debug, Clone)]
pub struct Peer {
    forwarded_for: Option<HeaderValue>,
}

impl Peer {
    /// The peer at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            forwarded_for: HeaderValue::from_str(&addr.ip().to_string()).ok(),
        }
    }
}

/// Adds `X-Forwarded-For` (the peer's address) and `X-Forwarded-Host` (the client's Host)
/// unless the caller sent them.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, peer: &Peer, host: Option<HeaderValue>) {
    if let (header::Entry::Vacant(slot), Some(v)) =
        (headers.entry(X_FORWARDED_FOR), peer.forwarded_for.as_ref())
    {
        slot.insert(v.clone());
    }
    if let (header::Entry::Vacant(slot), Some(host)) = (headers.entry(X_FORWARDED_HOST), host) {
        slot.insert(host);
    }
}

/// Splits `name.namespace` at the last dot; no dot means the default namespace.
pub fn split_name<'a>(segment: &'a str, default_namespace: &'a str) -> (&'a str, &'a str) {
    match segment.rsplit_once('.') {
        Some((name, namespace)) => (name, namespace),
        None => (segment, default_namespace),
    }
}

/// Whether `name` is a hop-by-hop header (RFC 9110 §7.6.1, plus the proxy ones).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == header::PROXY_AUTHENTICATE
        || name == header::PROXY_AUTHORIZATION
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Drops hop-by-hop headers, including any that `Connection` names. One pass over the
/// names when there are none (the common case): no hashing, no allocation.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    let hop: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n))
        .cloned()
        .collect();
    for name in hop {
        headers.remove(name);
    }
}

/// Serves one `/function/…` request. Never fails: errors become responses.
pub async fn invoke(state: &AppState, req: Request<Incoming>, peer: &Peer) -> Response<Body> {
    invoke_request(state, req.map(RequestBody::Stream), peer).await
}

/// [`invoke`] for a request whose body is already in memory or streaming: the path the async
/// worker shares with synchronous calls (resolve, balance, scale from zero, metrics).
pub(crate) async fn invoke_request(
    state: &AppState,
    mut req: Request<RequestBody>,
    peer: &Peer,
) -> Response<Body> {
    let started = Instant::now();
    let start_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let start_time = HeaderValue::from(start_ns as u64);
    let call_id = match req.headers_mut().entry(X_CALL_ID) {
        header::Entry::Occupied(sent) => sent.get().clone(),
        header::Entry::Vacant(slot) => slot.insert(new_call_id()).clone(),
    };
    let mut entry_for_metrics: Option<Arc<FunctionEntry>> = None;
    let mut response = match forward(state, req, peer, &start_time, &mut entry_for_metrics).await {
        Ok(response) => response,
        Err(e) => e.into_http(),
    };
    if let Some(entry) = entry_for_metrics {
        state.metrics().record(
            entry.metrics(),
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    let headers = response.headers_mut();
    headers.insert(X_CALL_ID, call_id);
    headers.insert(X_START_TIME, start_time);
    response
}

thread_local! {
    /// The generator of call ids: a fast non-cryptographic RNG per thread, seeded from the
    /// thread RNG (OS entropy) once.
    static CALL_ID_RNG: std::cell::RefCell<rand::rngs::SmallRng> =
        std::cell::RefCell::new(rand::SeedableRng::from_rng(&mut rand::rng()));
}

/// A fresh version-4 UUID as a header value. `Uuid::new_v4` asks the kernel for entropy (a
/// `getrandom` syscall) on every call, which the proxy's hot path should not pay; a call id
/// needs uniqueness (122 random bits from a per-thread generator seeded by the OS), not
/// unpredictability.
fn new_call_id() -> HeaderValue {
    let bytes: [u8; 16] = CALL_ID_RNG.with(|rng| rand::Rng::random(&mut *rng.borrow_mut()));
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("0"))
}

async fn forward(
    state: &AppState,
    req: Request<RequestBody>,
    peer: &Peer,
    start_time: &HeaderValue,
    entry_slot: &mut Option<Arc<FunctionEntry>>,
) -> Result<Response<Body>, GatewayError> {
    let (segment, tail) = split_path(req.uri().path());
    // The cache holds only functions whose names passed validation and that the provider
    // resolved, so a hit needs no validation; a miss validates before asking the provider.
    let (name, namespace) = split_name(segment, state.default_namespace());
    let entry = match state.endpoints().cached(name, namespace) {
        Some(entry) => entry,
        None => {
            let Some((name, namespace)) = function_of(segment, state.default_namespace()) else {
                return Err(GatewayError::FunctionNotFound(segment.to_owned()));
            };
            state
                .endpoints()
                .lookup(state.provider(), state.metrics(), name, namespace)
                .await?
        }
    };
    entry.metrics().started();
    *entry_slot = Some(Arc::clone(&entry));

    let limit = state.config().max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(GatewayError::BodyTooLarge { limit });
    }

    let lease = state.endpoints().acquire(state.provider(), &entry).await?;
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{}?{q}", if tail.is_empty() { "/" } else { tail }),
        None => if tail.is_empty() { "/" } else { tail }.to_owned(),
    };
    // Origin form: the connection is the replica's own.
    let uri = Uri::try_from(path_and_query)
        .map_err(|e| GatewayError::bad_request("path", e.to_string()))?;

    let (mut parts, body) = req.into_parts();
    // The replica's own authority goes upstream as Host, pre-formatted in the cache (the
    // client would otherwise format `host:port` for every call); the caller's Host becomes
    // X-Forwarded-Host.
    let client_host = parts
        .headers
        .insert(header::HOST, lease.replica().host_header().clone())
        .or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
    strip_hop_by_hop(&mut parts.headers);
    add_forwarded(&mut parts.headers, peer, client_host);
    parts.headers.insert(X_START_TIME, start_time.clone());
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    let body = LimitedBody::new(body, limit);
    let upstream = Request::from_parts(parts, body);

    let timeout = state.config().upstream_timeout;
    let sent = tokio::time::timeout(timeout, send(state, &entry, lease, upstream, limit)).await;
    let (response, checkout, lease) = match sent {
        Err(_) => {
            return Err(GatewayError::UpstreamTimeout {
                function: entry.label().to_owned(),
                timeout,
            });
        }
        Ok(result) => result?,
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(
        parts,
        Body::new(LeasedBody {
            inner: body,
            checkout: Some(checkout),
            finished: false,
            lease,
        }),
    ))
}

/// How many replicas one call may try when connections are refused (nothing sent).
const CONNECT_ATTEMPTS: usize = 3;

/// Sends `req` to the leased replica. A replica that cannot be connected to (nothing of the
/// request sent: stopped, scaled away, not yet listening) is evicted and the call goes to
/// another ready replica, refreshing from the provider when none is left, up to
/// [`CONNECT_ATTEMPTS`] replicas. A failure after the request went out is a 502 (and the
/// replica leaves the rotation), except that a failing request body is the caller's doing:
/// 413 over the limit, 400 when the caller's upload broke off, the replica kept.
async fn send(
    state: &AppState,
    entry: &FunctionEntry,
    mut lease: Lease,
    mut req: Request<LimitedBody>,
    limit: u64,
) -> Result<(Response<Incoming>, Checkout, Lease), GatewayError> {
    let mut attempt = 1;
    loop {
        let failure = match lease.replica().pool().send(req).await {
            Ok((response, checkout)) => return Ok((response, checkout, lease)),
            Err(failure) => failure,
        };
        if is_too_large(&failure.error) {
            return Err(GatewayError::BodyTooLarge { limit });
        }
        if let UpstreamError::Http(e) = &failure.error
            && e.is_user()
        {
            return Err(GatewayError::BodyRead(
                format!("the request body could not be forwarded: {e}").into(),
            ));
        }
        state.endpoints().evict(entry, lease.replica());
        match failure.unsent {
            Some(unsent) if attempt < CONNECT_ATTEMPTS => {
                tracing::debug!(function = %entry.label(), error = %failure.error, "replica refused the call; trying another");
                lease = state.endpoints().acquire(state.provider(), entry).await?;
                req = unsent;
                req.headers_mut()
                    .insert(header::HOST, lease.replica().host_header().clone());
                attempt += 1;
            }
            _ => {
                return Err(GatewayError::UpstreamUnreachable {
                    function: entry.label().to_owned(),
                    source: Box::new(failure.error),
                });
            }
        }
    }
}

/// Where a proxied request's body comes from.
#[derive(Debug)]
pub enum RequestBody {
    /// Streamed from the caller's connection.
    Stream(Incoming),
    /// Already in memory (an async call); `None` once sent.
    Full(Option<Bytes>),
}

/// A request body that fails with [`TooLarge`] once more than `limit` bytes have passed.
#[derive(Debug)]
pub struct LimitedBody {
    inner: RequestBody,
    remaining: u64,
    limit: u64,
    /// Set once every frame has been handed to the connection; `None` for a body that was
    /// empty from the start (no allocation on bodiless calls). The upstream pool reuses a
    /// connection only after its request went out whole: a replica may answer before it has
    /// read the body, and the next call must not wait behind a slow upload.
    sent: Option<Arc<AtomicBool>>,
}

impl LimitedBody {
    /// `inner`, failing once more than `limit` bytes have passed.
    pub(crate) fn new(inner: RequestBody, limit: u64) -> Self {
        let empty = match &inner {
            RequestBody::Stream(body) => http_body::Body::is_end_stream(body),
            RequestBody::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
        };
        Self {
            inner,
            remaining: limit,
            limit,
            sent: (!empty).then(|| Arc::new(AtomicBool::new(false))),
        }
    }

    /// What tells whether the whole body has been handed over (`None`: it was empty).
    pub(crate) fn sent_flag(&self) -> Option<Arc<AtomicBool>> {
        self.sent.clone()
    }

    fn mark_sent(&self) {
        if let Some(sent) = &self.sent {
            sent.store(true, Ordering::Release);
        }
    }

    /// An empty body with the same limit.
    pub(crate) fn empty_like(&self) -> Self {
        Self::new(RequestBody::Full(None), self.limit)
    }
}

/// The error of a [`LimitedBody`] over its limit.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than {0} bytes")]
struct TooLarge(u64);

/// Whether a failed upstream call failed because its request body went over the limit: the
/// client reports the body's own error as the source of its error, so the chain says.
fn is_too_large(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<TooLarge>() {
            return true;
        }
        next = e.source();
    }
    false
}

impl http_body::Body for LimitedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let inner = match &mut this.inner {
            RequestBody::Stream(inner) => inner,
            RequestBody::Full(bytes) => {
                let frame = bytes.take().filter(|b| !b.is_empty());
                this.mark_sent();
                return Poll::Ready(frame.map(|b| Ok(Frame::data(b))));
            }
        };
        match Pin::new(&mut *inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > this.remaining {
                        return Poll::Ready(Some(Err(Box::new(TooLarge(this.limit)))));
                    }
                    this.remaining -= n;
                }
                // hyper stops polling a body that says it has ended.
                if inner.is_end_stream() {
                    this.mark_sent();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => {
                this.mark_sent();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            RequestBody::Stream(inner) => inner.is_end_stream(),
            RequestBody::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            RequestBody::Stream(inner) => inner.size_hint(),
            RequestBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// A response body that keeps its replica counted as in flight until it is fully sent, and
/// hands the upstream connection back to the replica's pool once the body has been read to
/// its end (a body dropped before that closes the connection: it cannot be reused).
struct LeasedBody {
    inner: Incoming,
    checkout: Option<Checkout>,
    finished: bool,
    lease: Lease,
}

impl Drop for LeasedBody {
    fn drop(&mut self) {
        if let Some(checkout) = self.checkout.take()
            && (self.finished || http_body::Body::is_end_stream(&self.inner))
        {
            self.lease.replica().pool().release(checkout);
        }
    }
}

impl http_body::Body for LeasedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_are_distinct_v4_uuids() {
        let a = new_call_id();
        let b = new_call_id();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(a.to_str().unwrap_or("")).map(|u| u.get_version_num());
        assert_eq!(parsed.ok(), Some(4));
    }

    #[test]
    fn paths_split_into_function_and_tail() {
        assert_eq!(split_path("/function/echo"), ("echo", ""));
        assert_eq!(split_path("/function/echo/"), ("echo", "/"));
        assert_eq!(split_path("/function/echo.ns/a/b"), ("echo.ns", "/a/b"));
        assert_eq!(split_name("a.b.c", "d"), ("a.b", "c"));
        assert_eq!(split_name("echo", "openfaas-fn"), ("echo", "openfaas-fn"));
        assert_eq!(split_name(".openfaas-fn", "x"), ("", "openfaas-fn"));
    }

    #[test]
    fn hop_by_hop_headers_go_including_those_connection_names() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
