//! The `/async-function/{name}[.{namespace}][/{path}]` handler: any method, sub-path, query,
//! headers and body, answered `202 Accepted` with `X-Call-Id` and `X-Start-Time` only once the
//! queue has durably stored the call.
//!
//! Checked before anything is stored, cheapest first: the function segment is a valid,
//! canonical `name[.namespace]` (else 404, like `/function/`); `X-Call-Id`, when sent, is a
//! usable id and `X-Callback-Url` an allowed http(s) URL (else 400 naming the header); the
//! function exists, through the endpoint cache (else 404); the body fits the async limit
//! (else 413). A full or unreachable queue answers 503 with `Retry-After`. On JetStream the call
//! goes to the function's named queue (annotation `com.openfaas.queue`, see [`super::routes`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use faas_queue::{AsyncCall, CallId, QueueError};
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::ASYNC_PREFIX;
use crate::error::GatewayError;
use crate::proxy::{self, Peer, X_CALL_ID, X_START_TIME};
use crate::state::AppState;

const X_CALLBACK_URL: HeaderName = HeaderName::from_static("x-callback-url");

/// Splits `/async-function/<segment>[/<tail>]` into the function segment and the tail.
fn split_path(path: &str) -> (&str, &str) {
    proxy::split_under(path, ASYNC_PREFIX)
}

/// Whether the function segment is spelled canonically: no percent-encoding, backslash,
/// control character, or trailing dot (so no spelling of another route reaches this one).
fn canonical_segment(segment: &str) -> bool {
    !segment.is_empty()
        && !segment.ends_with('.')
        && !segment.contains(['%', '\\'])
        && !segment.bytes().any(|b| b.is_ascii_control())
}

/// Serves one `/async-function/…` request. Never fails: errors become responses.
pub async fn enqueue(state: &AppState, req: Request<Incoming>, peer: &Peer) -> Response<Body> {
    let start_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let start_time = HeaderValue::from(start_ns as u64);
    match accept(state, req, peer, &start_time).await {
        Ok(id) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::ACCEPTED;
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(id.as_str()) {
                headers.insert(X_CALL_ID, v);
            }
            headers.insert(X_START_TIME, start_time);
            response
        }
        Err(e) => e.into_http(),
    }
}

async fn accept(
    state: &AppState,
    req: Request<Incoming>,
    peer: &Peer,
    start_time: &HeaderValue,
) -> Result<CallId, GatewayError> {
    let Some(aq) = state.async_queue() else {
        return Err(GatewayError::RouteNotFound);
    };
    let (segment, tail) = split_path(req.uri().path());
    if !canonical_segment(segment) {
        return Err(GatewayError::FunctionNotFound(segment.to_owned()));
    }
    let Some((name, namespace)) = proxy::function_of(segment, state.default_namespace()) else {
        return Err(GatewayError::FunctionNotFound(segment.to_owned()));
    };
    let (name, namespace, tail) = (name.to_owned(), namespace.to_owned(), tail.to_owned());

    let id = match req.headers().get(&X_CALL_ID) {
        None => CallId::new(),
        Some(v) => {
            let text = v.to_str().map_err(|_| QueueError::Invalid {
                field: "X-Call-Id",
                message: "is not text".into(),
            })?;
            CallId::parse(text)?
        }
    };
    let callback = match req.headers().get(&X_CALLBACK_URL) {
        None => None,
        Some(v) => {
            let url = v
                .to_str()
                .map_err(|_| QueueError::InvalidCallback("is not text".into()))?;
            aq.policy().validate(url)?;
            Some(url.to_owned())
        }
    };

    // The function must exist: a cache hit costs nothing, a miss one resolve.
    let entry = state
        .endpoints()
        .lookup(state.provider(), state.metrics(), &name, &namespace)
        .await?;
    let named_queue = match aq.routes() {
        Some(routes) => routes.queue_of(state.provider(), &entry).await?,
        None => None,
    };

    let limit = aq.max_body_bytes();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(GatewayError::BodyTooLarge { limit });
    }
    let (mut parts, body) = req.into_parts();
    let read_limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let read = tokio::time::timeout(
        state.config().read_timeout.max(Duration::from_secs(1)),
        Limited::new(body, read_limit).collect(),
    )
    .await;
    let body = match read {
        Err(_) => {
            return Err(GatewayError::BodyRead(
                "the request body did not arrive within read_timeout".into(),
            ));
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(GatewayError::BodyTooLarge { limit });
        }
        Ok(Err(e)) => return Err(GatewayError::BodyRead(e)),
        Ok(Ok(collected)) => collected.to_bytes(),
    };

    // What the function would have seen had it been called synchronously.
    let host = parts.headers.get(header::HOST).cloned();
    proxy::add_forwarded(&mut parts.headers, peer, host);
    parts.headers.insert(X_START_TIME, start_time.clone());
    let mut call = AsyncCall::new(name, namespace)
        .with_id(id.clone())
        .with_method(parts.method.as_str())
        .with_path(tail)
        .with_query(parts.uri.query().unwrap_or(""))
        .with_headers(&parts.headers)
        .with_body(body)
        .with_queue(named_queue);
    if let Some(url) = callback {
        call = call.with_callback_url(url);
    }
    aq.queue().enqueue(call).await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_segments() {
        assert_eq!(split_path("/async-function/echo"), ("echo", ""));
        assert_eq!(
            split_path("/async-function/echo.ns/a/b"),
            ("echo.ns", "/a/b")
        );
        assert!(canonical_segment("echo.ns"));
        for bad in ["", "..", "echo.", "%65cho", "a\\b"] {
            assert!(!canonical_segment(bad), "{bad}");
        }
    }
}
