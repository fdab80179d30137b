//! [`GatewayInvoker`]: the worker's [`Invoker`], calling functions through the gateway's own
//! proxy path (endpoint cache, least-in-flight balancing, scale from zero, invocation
//! metrics), not over HTTP back to itself.

use std::net::SocketAddr;

use async_trait::async_trait;
use faas_queue::{AsyncCall, InvokeError, InvokeResponse, Invoker};
use http::header::HeaderName;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::proxy::{self, FUNCTION_PREFIX, Peer, RequestBody, X_CALL_ID};
use crate::state::AppState;

const X_CALLBACK_URL: HeaderName = HeaderName::from_static("x-callback-url");

/// Runs queued calls as `/function/{name}.{namespace}{path}?{query}` requests through the
/// proxy. Any HTTP answer, the gateway's own 502/503/504 included, is `Ok` (the worker decides
/// what to retry); a response body that breaks off is a retryable error.
#[derive(Debug, Clone)]
pub struct GatewayInvoker {
    state: AppState,
    /// The worker itself, as the calling side of its calls.
    peer: Peer,
}

impl GatewayInvoker {
    /// An invoker over `state`'s provider, cache and client.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            peer: Peer::new(SocketAddr::from(([127, 0, 0, 1], 0))),
        }
    }

    fn request(call: &AsyncCall) -> Result<Request<RequestBody>, InvokeError> {
        let method = Method::from_bytes(call.method.as_bytes())
            .map_err(|_| InvokeError::fatal(format!("invalid method {:?}", call.method)))?;
        let mut target = format!("{FUNCTION_PREFIX}{}{}", call.qualified_name(), call.path);
        if !call.query.is_empty() {
            target.push('?');
            target.push_str(&call.query);
        }
        let uri: Uri = target
            .parse()
            .map_err(|e| InvokeError::fatal(format!("invalid path {target:?}: {e}")))?;
        let mut headers = call.header_map();
        headers.remove(X_CALLBACK_URL);
        if let Ok(v) = HeaderValue::from_str(call.id.as_str()) {
            headers.insert(X_CALL_ID, v);
        }
        let mut req = Request::new(RequestBody::Full(Some(call.body.clone())));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        Ok(req)
    }
}

#[async_trait]
impl Invoker for GatewayInvoker {
    async fn invoke(&self, call: &AsyncCall) -> Result<InvokeResponse, InvokeError> {
        let req = Self::request(call)?;
        // The caller's address travels in X-Forwarded-For (set at enqueue time).
        let response = proxy::invoke_request(&self.state, req, &self.peer).await;
        let (parts, body) = response.into_parts();
        let config = self.state.config();
        let limit = usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX);
        let read =
            tokio::time::timeout(config.upstream_timeout, Limited::new(body, limit).collect())
                .await;
        let body = match read {
            Err(_) => {
                return Err(InvokeError::retryable(format!(
                    "{} did not finish its response within {:?}",
                    call.qualified_name(),
                    config.upstream_timeout
                )));
            }
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(InvokeError::fatal(format!(
                    "{}'s response is larger than {limit} bytes",
                    call.qualified_name()
                )));
            }
            Ok(Err(e)) => {
                return Err(InvokeError::retryable(format!(
                    "reading {}'s response: {e}",
                    call.qualified_name()
                )));
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        Ok(InvokeResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_becomes_a_function_request() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-callback-url",
            HeaderValue::from_static("http://127.0.0.1:1/"),
        );
        h.insert("x-custom", HeaderValue::from_static("1"));
        let call = AsyncCall::new("echo", "fns")
            .with_method("PUT")
            .with_path("/a/b")
            .with_query("x=1&y=%20")
            .with_headers(&h)
            .with_body("hi");
        let req = GatewayInvoker::request(&call).expect("builds");
        assert_eq!(req.method(), Method::PUT);
        assert_eq!(req.uri(), "/function/echo.fns/a/b?x=1&y=%20");
        assert!(req.headers().get("x-callback-url").is_none());
        assert_eq!(req.headers()["x-custom"], "1");
        assert_eq!(req.headers()["x-call-id"], call.id.as_str());
    }
}
