//! The async admin routes (behind the gateway's auth like every `/system/` route):
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/system/async/dead-letters?limit=100` | 200, JSON array of dead letters, oldest first |
//! | POST | `/system/async/dead-letters/{call_id}/replay` | 202 (queued again, attempts reset); 404 when unknown |
//! | DELETE | `/system/async/dead-letters/{call_id}` | 202; 404 when unknown |
//! | GET | `/system/async/stats` | 200 `{"backend", "depth", "worker"}` |
//!
//! With `--queue none` they answer 501.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use faas_queue::{CallId, DeadLetter};
use serde::Serialize;

use super::AsyncQueue;
use crate::error::GatewayError;
use crate::state::AppState;

/// The default and the largest `limit` of a listing.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

fn queue(state: &AppState) -> Result<&AsyncQueue, GatewayError> {
    state.async_queue().ok_or_else(|| {
        GatewayError::Provider(faas_core::Error::unsupported(
            "async invocations are switched off on this gateway (--queue none)",
        ))
    })
}

/// `GET /system/async/dead-letters?limit=N`.
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<DeadLetter>>, GatewayError> {
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| GatewayError::bad_request("limit", format!("{v:?} is not a number")))?
            .clamp(1, MAX_LIMIT),
    };
    Ok(Json(queue(&state)?.queue().list_dead_letters(limit).await?))
}

/// `POST /system/async/dead-letters/{call_id}/replay`.
pub async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, GatewayError> {
    let id = CallId::parse(&id)?;
    queue(&state)?.queue().replay_dead_letter(&id).await?;
    tracing::info!(call_id = %id, "dead letter replayed");
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /system/async/dead-letters/{call_id}`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, GatewayError> {
    let id = CallId::parse(&id)?;
    queue(&state)?.queue().delete_dead_letter(&id).await?;
    tracing::info!(call_id = %id, "dead letter deleted");
    Ok(StatusCode::ACCEPTED)
}

/// The body of `GET /system/async/stats`.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// `embedded` or `nats`.
    pub backend: &'static str,
    /// Calls waiting, delayed or in progress.
    pub depth: u64,
    /// Whether this gateway runs the worker.
    pub worker: bool,
}

/// `GET /system/async/stats`.
pub async fn stats(State(state): State<AppState>) -> Result<Json<Stats>, GatewayError> {
    let q = queue(&state)?.queue();
    Ok(Json(Stats {
        backend: q.backend(),
        depth: q.depth().await?,
        worker: state.config().queue.worker,
    }))
}
