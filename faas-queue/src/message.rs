//! The queued message: one async call, in our own format.
//!
//! An [`AsyncCall`] carries everything needed to replay the HTTP request against the function
//! later: method, sub-path, raw query, headers and body, plus the call id, the callback URL,
//! the optional named queue, the enqueue time and the attempt count. It is stored as JSON
//! (the body base64-encoded; header values mapped byte-for-char so non-UTF-8 values survive).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::error::{QueueError, Result};

/// The longest call id accepted from a caller.
pub const MAX_CALL_ID_LEN: usize = 64;

/// A call id: 1–64 characters of `A-Za-z0-9`, `-` and `_` (safe as a NATS subject token and a
/// store key). [`CallId::new`] makes a random UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CallId(String);

impl CallId {
    /// A fresh random id (a hyphenated UUID v4).
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        CallId(uuid::Uuid::new_v4().to_string())
    }

    /// Checks a caller-supplied id (for example the gateway's `X-Call-Id`).
    pub fn parse(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_CALL_ID_LEN
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        if ok {
            Ok(CallId(s.to_owned()))
        } else {
            Err(QueueError::Invalid {
                field: "X-Call-Id",
                message: format!(
                    "must be 1-{MAX_CALL_ID_LEN} characters of A-Z, a-z, 0-9, '-' and '_'"
                ),
            })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CallId {
    type Error = QueueError;
    fn try_from(s: String) -> Result<Self> {
        CallId::parse(&s)
    }
}

impl From<CallId> for String {
    fn from(id: CallId) -> String {
        id.0
    }
}

/// Headers that describe one hop and are never stored or replayed.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Whether `name` is a hop-by-hop header (or one rebuilt per request, like `Content-Length`).
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// One queued async invocation.
///
/// Build with [`AsyncCall::new`] and the `with_*` setters; the backends set
/// [`attempt`](AsyncCall::attempt) on delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AsyncCall {
    /// The call id, answered to the caller as `X-Call-Id` and sent with the callback.
    pub id: CallId,
    /// The function name (without namespace).
    pub function: String,
    /// The function's namespace.
    pub namespace: String,
    /// The HTTP method of the original request.
    pub method: String,
    /// The sub-path after `/async-function/<name>` (`""` or starting with `/`).
    pub path: String,
    /// The raw query string, without `?` (`""` when none).
    pub query: String,
    /// Request headers, minus hop-by-hop ones; values map byte-for-char (ISO 8859-1).
    pub headers: Vec<(String, String)>,
    /// The request body.
    #[serde(with = "b64")]
    pub body: Bytes,
    /// Where the result is POSTed, if anywhere (validated with
    /// [`CallbackPolicy`](crate::CallbackPolicy) at enqueue time).
    pub callback_url: Option<String>,
    /// The named queue (annotation `com.openfaas.queue`), `None` for the default queue.
    pub queue: Option<String>,
    /// When the call was accepted, in milliseconds since the Unix epoch.
    pub enqueued_at_ms: u64,
    /// On a [`Delivery`](crate::Delivery): the 1-based number of this attempt. Stored: the
    /// attempts already made.
    pub attempt: u32,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl AsyncCall {
    /// A `POST` call of `function` in `namespace` with a fresh id, no body and no callback.
    pub fn new(function: impl Into<String>, namespace: impl Into<String>) -> Self {
        AsyncCall {
            id: CallId::new(),
            function: function.into(),
            namespace: namespace.into(),
            method: "POST".into(),
            path: String::new(),
            query: String::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            callback_url: None,
            queue: None,
            enqueued_at_ms: now_ms(),
            attempt: 0,
        }
    }

    /// Sets the call id (for example the one the gateway already put in `X-Call-Id`).
    pub fn with_id(mut self, id: CallId) -> Self {
        self.id = id;
        self
    }

    /// Sets the HTTP method.
    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into();
        self
    }

    /// Sets the sub-path (a leading `/` is added when missing and the path is not empty).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.path = if path.is_empty() || path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        self
    }

    /// Sets the raw query string (a leading `?` is stripped).
    pub fn with_query(mut self, query: impl Into<String>) -> Self {
        let q = query.into();
        self.query = q.strip_prefix('?').map(str::to_owned).unwrap_or(q);
        self
    }

    /// Copies request headers, dropping hop-by-hop ones and `Content-Length`.
    pub fn with_headers(mut self, headers: &HeaderMap) -> Self {
        self.headers = headers
            .iter()
            .filter(|(n, _)| !is_hop_by_hop(n))
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.as_bytes().iter().map(|&b| b as char).collect(),
                )
            })
            .collect();
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the callback URL (validate it first with
    /// [`CallbackPolicy::validate`](crate::CallbackPolicy::validate)).
    pub fn with_callback_url(mut self, url: impl Into<String>) -> Self {
        self.callback_url = Some(url.into());
        self
    }

    /// Routes the call to a named queue (the function's `com.openfaas.queue` annotation).
    /// `None` or an empty name means the default queue.
    pub fn with_queue(mut self, queue: Option<String>) -> Self {
        self.queue = queue.filter(|q| !q.is_empty());
        self
    }

    /// The stored headers as a [`HeaderMap`] (entries that no longer parse are skipped).
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.headers.len());
        for (n, v) in &self.headers {
            let bytes: Vec<u8> = v.chars().map(|c| c as u32 as u8).collect();
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(n.as_str()),
                HeaderValue::from_bytes(&bytes),
            ) {
                map.append(n, v);
            }
        }
        map
    }

    /// `name.namespace`, as addressed under `/function/` (just `name` when the namespace is
    /// empty).
    pub fn qualified_name(&self) -> String {
        if self.namespace.is_empty() {
            self.function.clone()
        } else {
            format!("{}.{}", self.function, self.namespace)
        }
    }

    /// Checks the fields a backend relies on: function name, queue name, method, path.
    pub fn validate(&self) -> Result<()> {
        faas_core::validate::function_name("function", &self.function)
            .map_err(invalid("function"))?;
        if !self.namespace.is_empty() {
            faas_core::validate::namespace("namespace", &self.namespace)
                .map_err(invalid("namespace"))?;
        }
        if let Some(q) = &self.queue {
            let ok = q.len() <= 64
                && q.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
            if !ok {
                return Err(QueueError::Invalid {
                    field: "com.openfaas.queue",
                    message: "a queue name is 1-64 characters of A-Z, a-z, 0-9, '-' and '_'".into(),
                });
            }
        }
        if http::Method::from_bytes(self.method.as_bytes()).is_err() {
            return Err(QueueError::Invalid {
                field: "method",
                message: "not an HTTP method".into(),
            });
        }
        if !self.path.is_empty() && !self.path.starts_with('/') {
            return Err(QueueError::Invalid {
                field: "path",
                message: "must start with '/'".into(),
            });
        }
        Ok(())
    }

    /// Encodes the call for storage.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a stored call.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(QueueError::Decode)
    }
}

fn invalid(field: &'static str) -> impl Fn(faas_core::Error) -> QueueError {
    move |e| QueueError::Invalid {
        field,
        message: e.to_string(),
    }
}

mod b64 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        b: &Bytes,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Bytes, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_binary_headers_and_body() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-bin",
            HeaderValue::from_bytes(&[0x41, 0xE9, 0xFF]).unwrap_or(HeaderValue::from_static("x")),
        );
        h.insert("connection", HeaderValue::from_static("close"));
        let call = AsyncCall::new("echo", "openfaas-fn")
            .with_path("a/b")
            .with_query("?x=1")
            .with_headers(&h)
            .with_body(vec![0u8, 1, 2, 255]);
        assert_eq!(call.path, "/a/b");
        assert_eq!(call.query, "x=1");
        let back = AsyncCall::decode(&call.encode()).map_err(|e| e.to_string());
        assert_eq!(back.as_ref(), Ok(&call));
        let map = call.header_map();
        assert_eq!(
            map.get("x-bin").map(|v| v.as_bytes()),
            Some(&[0x41, 0xE9, 0xFF][..])
        );
        assert!(map.get("connection").is_none());
    }

    #[test]
    fn call_ids_are_checked() {
        assert!(CallId::parse("abc-DEF_1").is_ok());
        assert!(CallId::parse("").is_err());
        assert!(CallId::parse("a.b").is_err());
        assert!(CallId::parse(&"a".repeat(65)).is_err());
    }
}
