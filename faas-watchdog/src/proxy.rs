//! http mode: the reverse proxy to the long-running function process.

use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, header};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

use crate::body::WatchdogBody;
use crate::duration::parse_duration;
use crate::server::{InflightGuard, Shared, status_response};

static X_TIMEOUT: HeaderName = HeaderName::from_static("x-timeout");
static X_DURATION: HeaderName = HeaderName::from_static("x-duration-seconds");
static X_INTERNAL: HeaderName = HeaderName::from_static("x-openfaas-internal");

/// Headers that belong to one hop and are never forwarded.
static HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// A pooled HTTP/1 client bound to the upstream's address.
#[derive(Debug)]
pub(crate) struct Proxy {
    client: Client<HttpConnector, Incoming>,
    scheme: Scheme,
    authority: Authority,
    /// A path prefix from `upstream_url` (rare), without its trailing slash.
    prefix: Option<String>,
}

impl Proxy {
    pub(crate) fn new(upstream: &Uri) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .build(connector);
        let prefix = upstream.path().trim_end_matches('/');
        Self {
            client,
            scheme: upstream.scheme().cloned().unwrap_or(Scheme::HTTP),
            authority: upstream
                .authority()
                .cloned()
                .unwrap_or_else(|| Authority::from_static("127.0.0.1")),
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
        }
    }

    /// `host:port` to probe for readiness.
    pub(crate) fn address(&self) -> String {
        let port = self.authority.port_u16().unwrap_or(80);
        format!("{}:{port}", self.authority.host())
    }

    fn upstream_uri(&self, uri: &Uri) -> Option<Uri> {
        let path_and_query = match (&self.prefix, uri.path_and_query()) {
            (None, Some(pq)) => pq.clone(),
            (None, None) => PathAndQuery::from_static("/"),
            (Some(prefix), pq) => {
                let pq = pq.map_or("/", PathAndQuery::as_str);
                PathAndQuery::try_from(format!("{prefix}{pq}")).ok()?
            }
        };
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .ok()
    }

    /// Proxies one call. 504 on exec_timeout or `X-Timeout`, 502 when the upstream cannot be
    /// reached; both carry `X-OpenFaaS-Internal: of-watchdog`.
    pub(crate) async fn call(
        &self,
        shared: &Arc<Shared>,
        mut req: Request<Incoming>,
        guard: InflightGuard,
    ) -> Response<WatchdogBody> {
        let start = Instant::now();
        let Some(uri) = self.upstream_uri(req.uri()) else {
            return status_response(StatusCode::BAD_REQUEST, "Bad request path\n");
        };
        *req.uri_mut() = uri;
        let timeout = call_timeout(shared.config.exec_timeout, req.headers());
        strip_hop_by_hop(req.headers_mut());
        let upstream = self.client.request(req);
        let result = match timeout {
            Some(limit) => match tokio::time::timeout(limit, upstream).await {
                Ok(result) => result,
                Err(_) => {
                    shared.log(&format!("Upstream timed out after {limit:?}"));
                    return internal(StatusCode::GATEWAY_TIMEOUT, "Function timed out\n");
                }
            },
            None => upstream.await,
        };
        match result {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                if let Ok(v) =
                    HeaderValue::from_str(&format!("{:.6}", start.elapsed().as_secs_f64()))
                {
                    parts.headers.insert(X_DURATION.clone(), v);
                }
                Response::from_parts(parts, WatchdogBody::Upstream { body, guard })
            }
            Err(e) => {
                shared.log(&format!("Upstream request failed: {e}"));
                internal(StatusCode::BAD_GATEWAY, "Can't reach the function\n")
            }
        }
    }
}

/// The smaller of exec_timeout (if set) and the request's `X-Timeout` (if valid and non-zero).
fn call_timeout(exec_timeout: Duration, headers: &HeaderMap) -> Option<Duration> {
    let exec = (!exec_timeout.is_zero()).then_some(exec_timeout);
    let asked = headers
        .get(&X_TIMEOUT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_duration)
        .filter(|d| !d.is_zero());
    match (exec, asked) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.is_empty() {
        return;
    }
    for name in &HOP_BY_HOP {
        if headers.contains_key(name) {
            headers.remove(name);
        }
    }
}

fn internal(status: StatusCode, text: &'static str) -> Response<WatchdogBody> {
    let mut resp = status_response(status, text);
    resp.headers_mut()
        .insert(X_INTERNAL.clone(), HeaderValue::from_static("of-watchdog"));
    resp
}
