//! A minimal HTTP enqueue endpoint: `/async-function/{name}[.{namespace}][/{path}]`.
//!
//! It is what the gateway's route does, without auth or function lookup, so the standalone
//! `faas-queue-worker --listen` can host a complete single-node async tier (and so the crash
//! tests can `kill -9` one process that holds the queue). Answers:
//! `202` + `X-Call-Id` once stored; `400` for a bad `X-Callback-Url`, name or call id; `413`
//! over the body limit; `503` + `Retry-After` when the queue is full or unreachable.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::callback::CallbackPolicy;
use crate::error::QueueError;
use crate::message::{AsyncCall, CallId};
use crate::queue::DynQueue;

/// Settings of the enqueue endpoint.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FrontConfig {
    /// Largest accepted body (default 1 MiB).
    pub max_body: usize,
    /// Namespace when the path names none (default `openfaas-fn`).
    pub default_namespace: String,
    /// Which callback URLs are accepted.
    pub callback_policy: CallbackPolicy,
}

impl Default for FrontConfig {
    fn default() -> Self {
        FrontConfig {
            max_body: 1024 * 1024,
            default_namespace: faas_core::model::DEFAULT_NAMESPACE.into(),
            callback_policy: CallbackPolicy::allow_any(),
        }
    }
}

/// Splits `/async-function/name.ns/rest` into `(name, namespace, "/rest")`.
pub fn parse_async_path<'a>(
    path: &'a str,
    default_ns: &'a str,
) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = path.strip_prefix("/async-function/")?;
    let (target, sub) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (name, ns) = match target.rfind('.') {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (target, default_ns),
    };
    if name.is_empty() || ns.is_empty() {
        return None;
    }
    Some((name, ns, sub))
}

type Body = Full<Bytes>;

fn reply(status: StatusCode, text: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(text + "\n")));
    *r.status_mut() = status;
    r
}

fn error_reply(e: &QueueError) -> Response<Body> {
    let mut r = reply(e.http_status(), e.to_string());
    if let Some(after) = e.retry_after() {
        r.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(after.as_secs().max(1)),
        );
    }
    r
}

async fn handle(
    req: Request<Incoming>,
    queue: DynQueue,
    config: Arc<FrontConfig>,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/healthz" {
        return reply(StatusCode::OK, "ok".into());
    }
    let Some((name, ns, sub)) = parse_async_path(&path, &config.default_namespace) else {
        return reply(StatusCode::NOT_FOUND, "not found".into());
    };
    let (name, ns, sub) = (name.to_owned(), ns.to_owned(), sub.to_owned());
    let (parts, body) = req.into_parts();
    let id = match parts
        .headers
        .get("x-call-id")
        .map(|v| v.to_str().map(CallId::parse))
    {
        None => CallId::new(),
        Some(Ok(Ok(id))) => id,
        Some(Ok(Err(e))) => return error_reply(&e),
        Some(Err(_)) => {
            return error_reply(&QueueError::Invalid {
                field: "X-Call-Id",
                message: "not text".into(),
            });
        }
    };
    let callback = match parts.headers.get("x-callback-url") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(url) => match config.callback_policy.validate(url) {
                Ok(_) => Some(url.to_owned()),
                Err(e) => return error_reply(&e),
            },
            Err(_) => return error_reply(&QueueError::InvalidCallback("is not text".into())),
        },
    };
    let body = match Limited::new(body, config.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error_reply(&QueueError::TooLarge {
                size: config.max_body + 1,
                max: config.max_body,
            });
        }
    };
    let mut call = AsyncCall::new(name, ns)
        .with_id(id.clone())
        .with_method(parts.method.as_str())
        .with_path(sub)
        .with_query(parts.uri.query().unwrap_or(""))
        .with_headers(&parts.headers)
        .with_body(body);
    if let Some(url) = callback {
        call = call.with_callback_url(url);
    }
    match queue.enqueue(call).await {
        Ok(()) => {
            let mut r = reply(StatusCode::ACCEPTED, String::new());
            if let Ok(v) = http::HeaderValue::from_str(id.as_str()) {
                r.headers_mut().insert("x-call-id", v);
            }
            r
        }
        Err(e) => error_reply(&e),
    }
}

/// Serves the endpoint on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, queue: DynQueue, config: FrontConfig) {
    let config = Arc::new(config);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (queue, config) = (queue.clone(), config.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (queue, config) = (queue.clone(), config.clone());
                async move { Ok::<_, Infallible>(handle(req, queue, config).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::parse_async_path;

    #[test]
    fn paths() {
        assert_eq!(
            parse_async_path("/async-function/echo", "d"),
            Some(("echo", "d", ""))
        );
        assert_eq!(
            parse_async_path("/async-function/echo.fn/a/b", "d"),
            Some(("echo", "fn", "/a/b"))
        );
        assert_eq!(parse_async_path("/async-function/", "d"), None);
        assert_eq!(parse_async_path("/function/echo", "d"), None);
    }
}
