//! The control-plane router (everything but `/function/*`), with auth, path checks and the
//! write timeout applied.

pub mod json;
pub mod logs;
pub mod system;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::error::GatewayError;
use crate::queue::dead_letters;
use crate::state::AppState;

/// Paths served without credentials (everything else needs them when auth is on).
pub const PUBLIC_PATHS: [&str; 2] = ["/healthz", "/metrics"];

/// The control-plane router over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/system/functions",
            get(system::list_functions)
                .post(system::deploy)
                .put(system::update)
                .delete(system::delete),
        )
        .route("/system/function/{name}", get(system::get_function))
        .route("/system/scale-function/{name}", post(system::scale))
        .route(
            "/system/secrets",
            get(system::list_secrets)
                .post(system::create_secret)
                .put(system::update_secret)
                .delete(system::delete_secret),
        )
        .route("/system/logs", get(logs::logs))
        .route("/system/namespaces", get(system::list_namespaces))
        .route("/system/namespace/", post(system::create_namespace))
        .route(
            "/system/namespace/{ns}",
            get(system::get_namespace)
                .post(system::create_namespace)
                .put(system::update_namespace)
                .delete(system::delete_namespace),
        )
        .route("/system/info", get(system::info))
        .route("/system/async/dead-letters", get(dead_letters::list))
        .route(
            "/system/async/dead-letters/{id}",
            axum::routing::delete(dead_letters::delete),
        )
        .route(
            "/system/async/dead-letters/{id}/replay",
            post(dead_letters::replay),
        )
        .route("/system/async/stats", get(dead_letters::stats))
        .route("/healthz", get(system::healthz).head(system::healthz))
        .route("/metrics", get(system::metrics))
        .fallback(|| async { GatewayError::RouteNotFound })
        .method_not_allowed_fallback(|| async { GatewayError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), write_timeout))
        .layer(middleware::from_fn_with_state(state.clone(), require_auth))
        .layer(middleware::from_fn(canonical_path))
        .with_state(state)
}

/// Rejects requests without valid credentials, except to [`PUBLIC_PATHS`] (default deny:
/// any path the router might match, in any spelling, needs auth).
async fn require_auth(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, GatewayError> {
    if let Some(creds) = state.credentials() {
        let public = PUBLIC_PATHS.contains(&req.uri().path());
        let ok = public
            || req
                .headers()
                .get(http::header::AUTHORIZATION)
                .is_some_and(|v| creds.check_header(v.as_bytes()));
        if !ok {
            return Err(GatewayError::Unauthorized);
        }
    }
    Ok(next.run(req).await)
}

/// Bounds the time to the response head by `write_timeout`.
async fn write_timeout(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, GatewayError> {
    let limit = state.config().write_timeout;
    tokio::time::timeout(limit, next.run(req))
        .await
        .map_err(|_| GatewayError::HandlerTimeout(limit))
}

/// Whether `path` is in canonical form: absolute, no percent-encoding, no backslash, no empty,
/// `.` or `..` segment (a trailing `/` is allowed) and no segment ending in a dot.
pub fn is_canonical(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if path.contains(['%', '\\']) || path.bytes().any(|b| b.is_ascii_control()) {
        return false;
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    segments.iter().enumerate().all(|(i, seg)| {
        if seg.is_empty() {
            return i == last;
        }
        !seg.ends_with('.')
    })
}

/// Rejects non-canonical paths (400) before routing or auth see them, so no spelling of a
/// system path can reach a handler by another route.
async fn canonical_path(req: Request, next: Next) -> Result<Response, GatewayError> {
    if !is_canonical(req.uri().path()) {
        return Err(GatewayError::NonCanonicalPath);
    }
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::is_canonical;

    #[test]
    fn canonical_paths() {
        for ok in [
            "/",
            "/system/functions",
            "/system/functions/",
            "/system/function/a-b",
            "/healthz",
        ] {
            assert!(is_canonical(ok), "{ok}");
        }
        for bad in [
            "//system/functions",
            "/system//functions",
            "/system/../system/functions",
            "/system/./functions",
            "/%73ystem/functions",
            "/system/functions.",
            "/system./functions",
            "/system/functions/..",
            "/system\\functions",
            "system/functions",
        ] {
            assert!(!is_canonical(bad), "{bad}");
        }
    }
}
