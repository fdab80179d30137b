//! How the worker runs a function: the [`Invoker`] trait and its HTTP implementation.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::message::{AsyncCall, is_hop_by_hop};

/// The function's answer.
#[derive(Debug, Clone)]
pub struct InvokeResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
}

/// The function could not be reached at all (no HTTP answer).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct InvokeError {
    /// One line saying what failed.
    pub message: String,
    /// Whether trying again may help (connection refused, timeout: yes).
    pub retryable: bool,
}

impl InvokeError {
    /// A retryable failure (connection error, timeout).
    pub fn retryable(message: impl Into<String>) -> Self {
        InvokeError {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure retrying will not fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        InvokeError {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Runs one queued call against its function.
///
/// The gateway implements this with its sync proxy path (resolve, balance, scale from zero);
/// [`HttpInvoker`] posts through a gateway's `/function/` route. A status the worker retries
/// (see [`WorkerConfig::retry_statuses`](crate::WorkerConfig::retry_statuses)) is returned as
/// `Ok`; `Err` is only for "no HTTP answer".
#[async_trait]
pub trait Invoker: Send + Sync + Debug + 'static {
    /// Sends the call's method, sub-path, query, headers and body to the function.
    async fn invoke(&self, call: &AsyncCall) -> Result<InvokeResponse, InvokeError>;
}

/// Invokes through a gateway over HTTP:
/// `<method> <gateway>/function/<name>.<namespace><path>?<query>`.
#[derive(Debug, Clone)]
pub struct HttpInvoker {
    base: String,
    client: reqwest::Client,
}

impl HttpInvoker {
    /// Invokes through the gateway at `gateway_url` (e.g. `http://127.0.0.1:8080`) with a
    /// per-call `timeout`.
    pub fn new(gateway_url: &str, timeout: Duration) -> Result<Self, InvokeError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(256)
            .user_agent("faas-queue-worker")
            .build()
            .map_err(|e| InvokeError::fatal(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpInvoker {
            base: gateway_url.trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// The URL a call is sent to.
    pub fn url_for(&self, call: &AsyncCall) -> String {
        let mut url = format!(
            "{}/function/{}{}",
            self.base,
            call.qualified_name(),
            call.path
        );
        if !call.query.is_empty() {
            url.push('?');
            url.push_str(&call.query);
        }
        url
    }
}

#[async_trait]
impl Invoker for HttpInvoker {
    async fn invoke(&self, call: &AsyncCall) -> Result<InvokeResponse, InvokeError> {
        let method = reqwest::Method::from_bytes(call.method.as_bytes())
            .map_err(|_| InvokeError::fatal(format!("invalid method {:?}", call.method)))?;
        let mut headers = HeaderMap::new();
        for (n, v) in &call.header_map() {
            if !is_hop_by_hop(n) && n.as_str() != "x-callback-url" {
                headers.append(n.clone(), v.clone());
            }
        }
        if let Ok(v) = http::HeaderValue::from_str(call.id.as_str()) {
            headers.insert("x-call-id", v);
        }
        let resp = self
            .client
            .request(method, self.url_for(call))
            .headers(headers)
            .body(call.body.clone())
            .send()
            .await
            .map_err(|e| {
                InvokeError::retryable(format!("invoke {}: {e}", call.qualified_name()))
            })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| {
            InvokeError::retryable(format!("reading {}'s answer: {e}", call.qualified_name()))
        })?;
        Ok(InvokeResponse {
            status,
            headers,
            body,
        })
    }
}
