//! Callback URL policy (the SSRF guard) and the callback sender.
//!
//! A callback URL must be an absolute `http` or `https` URL without user info. When an
//! allowlist is configured its host must match one entry: `host`, `host:port`, or
//! `*.example.com` (any subdomain). The gateway validates at enqueue time, so a bad
//! `X-Callback-Url` is answered 400; the worker validates again before posting, because the
//! policy may have changed while the call waited.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::error::{QueueError, Result};
use crate::message::is_hop_by_hop;

/// Which callback URLs are accepted.
#[derive(Debug, Clone, Default)]
pub struct CallbackPolicy {
    allowed_hosts: Vec<String>,
}

impl CallbackPolicy {
    /// Any http(s) host is allowed.
    pub fn allow_any() -> Self {
        Self::default()
    }

    /// Only these hosts (`host`, `host:port` or `*.domain`, case-insensitive) are allowed. An
    /// empty list allows any host.
    pub fn allow_hosts<I, S>(hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            allowed_hosts: hosts
                .into_iter()
                .map(|h| h.into().trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    /// The allowlist (empty: any host).
    pub fn allowed_hosts(&self) -> &[String] {
        &self.allowed_hosts
    }

    /// Checks `url` and returns it parsed, or [`QueueError::InvalidCallback`] saying why not.
    pub fn validate(&self, url: &str) -> Result<http::Uri> {
        let bad = |m: &str| QueueError::InvalidCallback(m.to_owned());
        let uri: http::Uri = url
            .parse()
            .map_err(|_| bad("is not a valid http or https URL"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(bad("must be an http or https URL")),
        }
        let authority = uri.authority().ok_or_else(|| bad("must name a host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not contain user info"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(bad("must name a host"));
        }
        // `http::Uri` accepts any digits as the port (and then reports none); a port that is
        // not 1-65535 would be accepted here and fail at every callback attempt.
        let text = authority.as_str();
        let host_end = text.rfind(']').unwrap_or(0);
        if let Some(colon) = text.rfind(':').filter(|&c| c > host_end)
            && !matches!(text[colon + 1..].parse::<u16>(), Ok(1..))
        {
            return Err(bad("has a port outside 1-65535"));
        }
        if self.allowed_hosts.is_empty() {
            return Ok(uri);
        }
        let host_port = match authority.port_u16() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let allowed = self.allowed_hosts.iter().any(|entry| {
            if let Some(domain) = entry.strip_prefix("*.") {
                host.ends_with(&format!(".{domain}"))
            } else {
                *entry == host || *entry == host_port
            }
        });
        if allowed {
            Ok(uri)
        } else {
            Err(QueueError::InvalidCallback(format!(
                "host {host_port} is not in the callback allowlist"
            )))
        }
    }
}

/// What the worker posts to a callback URL.
#[derive(Debug, Clone)]
pub(crate) struct CallbackRequest<'a> {
    pub(crate) url: &'a str,
    pub(crate) call_id: &'a str,
    pub(crate) function: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) status: StatusCode,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) duration: Duration,
    pub(crate) start_time_nanos: u128,
}

/// Outcome of one callback POST.
#[derive(Debug)]
pub(crate) enum CallbackOutcome {
    /// The receiver answered 2xx (or another status that retrying will not change).
    Delivered(StatusCode),
    /// Worth retrying: connection error, timeout, 429 or 5xx.
    Retry(String),
}

/// Posts one callback with `client`.
pub(crate) async fn post_callback(
    client: &reqwest::Client,
    req: CallbackRequest<'_>,
) -> CallbackOutcome {
    let mut headers = HeaderMap::new();
    for (n, v) in req.headers {
        if !is_hop_by_hop(n) {
            headers.append(n.clone(), v.clone());
        }
    }
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("x-call-id", req.call_id.to_owned());
    set("x-function-status", req.status.as_u16().to_string());
    set(
        "x-duration-seconds",
        format!("{:.6}", req.duration.as_secs_f64()),
    );
    set("x-function-name", req.function.to_owned());
    set("x-function-namespace", req.namespace.to_owned());
    set("x-start-time", req.start_time_nanos.to_string());
    let result = client
        .post(req.url)
        .headers(headers)
        .body(req.body)
        .send()
        .await;
    match result {
        Ok(resp) => {
            let s = resp.status();
            // Drain so the connection can be reused.
            let _ = resp.bytes().await;
            if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() {
                CallbackOutcome::Retry(format!("callback answered {s}"))
            } else {
                CallbackOutcome::Delivered(s)
            }
        }
        Err(e) => CallbackOutcome::Retry(format!("callback failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_allowlist() {
        let any = CallbackPolicy::allow_any();
        assert!(any.validate("http://127.0.0.1:9000/cb").is_ok());
        assert!(any.validate("https://example.com").is_ok());
        assert!(any.validate("ftp://example.com").is_err());
        assert!(any.validate("/relative").is_err());
        assert!(any.validate("http://user:pw@example.com/").is_err());
        // Ports at their edges.
        assert!(any.validate("http://127.0.0.1:65535/").is_ok());
        assert!(any.validate("http://127.0.0.1:1/").is_ok());
        assert!(any.validate("http://[::1]:8080/").is_ok());
        assert!(any.validate("http://[::1]/").is_ok());
        for bad in [
            "http://127.0.0.1:65536/",
            "http://127.0.0.1:99999/",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:/",
            "http://[::1]:70000/",
        ] {
            let err = any.validate(bad).expect_err(bad).to_string();
            assert!(err.contains("port"), "{bad}: {err}");
        }
        let list = CallbackPolicy::allow_hosts(["127.0.0.1:9000", "*.example.com", "hooks.test"]);
        assert!(list.validate("http://127.0.0.1:9000/x").is_ok());
        assert!(list.validate("http://127.0.0.1:9001/x").is_err());
        assert!(list.validate("https://a.example.com/x").is_ok());
        assert!(list.validate("https://example.com/x").is_err());
        assert!(list.validate("https://HOOKS.test:8443/x").is_ok());
        assert!(list.validate("http://169.254.169.254/latest").is_err());
    }
}
