//! `GET /system/logs`: a function's log lines as newline-delimited JSON, streamed while
//! `follow=true` and ended cleanly otherwise.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use faas_core::LogRequest;
use futures::StreamExt;
use http::HeaderValue;

use crate::config::parse_bool;
use crate::error::GatewayError;
use crate::state::AppState;

/// Builds the provider request from the query (`name`, `namespace`, `instance`, `tail`,
/// `follow`, `since`), naming the parameter at fault.
pub fn log_request(
    state: &AppState,
    q: &HashMap<String, String>,
) -> Result<LogRequest, GatewayError> {
    let name = q.get("name").map(|s| s.trim()).unwrap_or("");
    if name.is_empty() {
        return Err(GatewayError::bad_request(
            "name",
            "the function name is required",
        ));
    }
    let namespace =
        state.namespace_or_default(q.get("namespace").map(String::as_str).unwrap_or(""));
    let mut req = LogRequest::new(name, namespace);
    req.instance = q.get("instance").filter(|s| !s.is_empty()).cloned();
    if let Some(tail) = q.get("tail").filter(|s| !s.is_empty()) {
        let n: i64 = tail
            .trim()
            .parse()
            .map_err(|_| GatewayError::bad_request("tail", "must be an integer"))?;
        req.tail = u64::try_from(n).ok().filter(|n| *n > 0);
    }
    req.follow = q.get("follow").and_then(|v| parse_bool(v)).unwrap_or(false);
    if let Some(since) = q.get("since").filter(|s| !s.is_empty()) {
        let t = DateTime::parse_from_rfc3339(since.trim()).map_err(|e| {
            GatewayError::bad_request("since", format!("must be an RFC 3339 time: {e}"))
        })?;
        req.since = Some(t.with_timezone(&Utc));
    }
    Ok(req)
}

/// `GET /system/logs`.
pub async fn logs(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, GatewayError> {
    let req = log_request(&state, &q)?;
    let stream = state.provider().logs(req).await?;
    let lines = stream
        .take_while(|item| {
            if let Err(e) = item {
                tracing::warn!(error = %e, "log stream ended by a provider error");
            }
            std::future::ready(item.is_ok())
        })
        .filter_map(|item| {
            std::future::ready(
                item.ok()
                    .and_then(|entry| serde_json::to_vec(&entry).ok())
                    .map(|mut line| {
                        line.push(b'\n');
                        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(line))
                    }),
            )
        });
    let mut response = Response::new(Body::from_stream(lines));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
