//! The management API, `/system/*`, with OpenFaaS's shapes and codes: functions, scaling,
//! secrets, namespaces and info. Logs are in [`super::logs`].

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use faas_core::{
    DeleteFunctionRequest, FunctionDeployment, FunctionNamespace, FunctionStatus, ScaleRequest,
    Secret, VersionInfo,
};
use serde::Serialize;

use super::json::JsonBody;
use crate::error::GatewayError;
use crate::state::AppState;

type Result<T, E = GatewayError> = std::result::Result<T, E>;
/// Query parameters, last value wins.
type Params = Query<HashMap<String, String>>;

fn query_ns(q: &Params) -> &str {
    q.get("namespace").map(String::as_str).unwrap_or("")
}

fn required<T>(body: Option<T>) -> Result<T> {
    body.ok_or_else(|| GatewayError::bad_request("body", "a JSON body is required"))
}

fn with_count(state: &AppState, mut status: FunctionStatus, namespace: &str) -> FunctionStatus {
    let ns = if status.namespace.is_empty() {
        namespace
    } else {
        status.namespace.as_str()
    };
    status.invocation_count = state.endpoints().invocations(&status.name, ns) as f64;
    status
}

/// `GET /system/functions?namespace=`.
pub async fn list_functions(
    State(state): State<AppState>,
    q: Params,
) -> Result<Json<Vec<FunctionStatus>>> {
    let ns = state.namespace_or_default(query_ns(&q)).to_owned();
    let list = state.provider().list(&ns).await?;
    Ok(Json(
        list.into_iter()
            .map(|f| with_count(&state, f, &ns))
            .collect(),
    ))
}

/// `POST /system/functions`: deploy, 202.
pub async fn deploy(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<FunctionDeployment>,
) -> Result<StatusCode> {
    let mut d = required(body)?;
    d.namespace = state.namespace_or_default(&d.namespace).to_owned();
    d.validate()?;
    state.provider().deploy(d.clone()).await?;
    state.endpoints().invalidate(&d.service, &d.namespace);
    Ok(StatusCode::ACCEPTED)
}

/// `PUT /system/functions`: update, 202; 404 for an unknown function.
pub async fn update(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<FunctionDeployment>,
) -> Result<StatusCode> {
    let mut d = required(body)?;
    d.namespace = state.namespace_or_default(&d.namespace).to_owned();
    d.validate()?;
    state.provider().update(d.clone()).await?;
    state.endpoints().invalidate(&d.service, &d.namespace);
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /system/functions`: the namespace from the body, else the query; 202.
pub async fn delete(
    State(state): State<AppState>,
    q: Params,
    JsonBody(body): JsonBody<DeleteFunctionRequest>,
) -> Result<StatusCode> {
    let body = body.unwrap_or_default();
    let name = if body.function_name.is_empty() {
        q.get("functionName").cloned().unwrap_or_default()
    } else {
        body.function_name
    };
    if name.is_empty() {
        return Err(GatewayError::bad_request(
            "functionName",
            "the function name is required",
        ));
    }
    let ns = if body.namespace.is_empty() {
        query_ns(&q).to_owned()
    } else {
        body.namespace
    };
    let ns = state.namespace_or_default(&ns).to_owned();
    state.provider().delete(&name, &ns).await?;
    state.endpoints().remove(&name, &ns);
    Ok(StatusCode::ACCEPTED)
}

/// `GET /system/function/{name}?namespace=`.
pub async fn get_function(
    State(state): State<AppState>,
    Path(name): Path<String>,
    q: Params,
) -> Result<Json<FunctionStatus>> {
    let ns = state.namespace_or_default(query_ns(&q)).to_owned();
    let status = state.provider().get(&name, &ns).await?;
    Ok(Json(with_count(&state, status, &ns)))
}

/// `POST /system/scale-function/{name}`: any replica count the provider accepts (0 too), 202.
pub async fn scale(
    State(state): State<AppState>,
    Path(name): Path<String>,
    q: Params,
    JsonBody(body): JsonBody<ScaleRequest>,
) -> Result<StatusCode> {
    let mut req = required(body)?;
    req.service_name = name;
    let ns = if req.namespace.is_empty() {
        query_ns(&q).to_owned()
    } else {
        req.namespace.clone()
    };
    req.namespace = state.namespace_or_default(&ns).to_owned();
    let (name, ns) = (req.service_name.clone(), req.namespace.clone());
    state.provider().scale(req).await?;
    state.endpoints().invalidate(&name, &ns);
    Ok(StatusCode::ACCEPTED)
}

/// `GET /system/secrets?namespace=`: names only.
pub async fn list_secrets(State(state): State<AppState>, q: Params) -> Result<Response> {
    let ns = state.namespace_or_default(query_ns(&q)).to_owned();
    Ok(Json(state.provider().list_secrets(&ns).await?).into_response())
}

fn secret_body(state: &AppState, body: Option<Secret>) -> Result<Secret> {
    let mut s = required(body)?;
    s.namespace = state.namespace_or_default(&s.namespace).to_owned();
    Ok(s)
}

/// `POST /system/secrets`: 202; 409 when it exists.
pub async fn create_secret(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Secret>,
) -> Result<StatusCode> {
    let s = secret_body(&state, body)?;
    faas_core::validate::secret(&s)?;
    state.provider().create_secret(s).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `PUT /system/secrets`: 202; 404 when missing.
pub async fn update_secret(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Secret>,
) -> Result<StatusCode> {
    let s = secret_body(&state, body)?;
    faas_core::validate::secret(&s)?;
    state.provider().update_secret(s).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /system/secrets`: 202; 404 when missing.
pub async fn delete_secret(
    State(state): State<AppState>,
    q: Params,
    JsonBody(body): JsonBody<Secret>,
) -> Result<StatusCode> {
    let mut s = required(body)?;
    if s.namespace.is_empty() {
        s.namespace = query_ns(&q).to_owned();
    }
    if s.name.is_empty() {
        return Err(GatewayError::bad_request(
            "name",
            "the secret name is required",
        ));
    }
    let ns = state.namespace_or_default(&s.namespace).to_owned();
    state.provider().delete_secret(&s.name, &ns).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `GET /system/namespaces`.
pub async fn list_namespaces(State(state): State<AppState>) -> Result<Json<Vec<String>>> {
    Ok(Json(state.provider().list_namespaces().await?))
}

/// `GET /system/namespace/{ns}`.
pub async fn get_namespace(
    State(state): State<AppState>,
    Path(ns): Path<String>,
) -> Result<Json<FunctionNamespace>> {
    Ok(Json(state.provider().get_namespace(&ns).await?))
}

/// The body's namespace, named by the path when given; a body naming another is rejected.
fn namespace_body(
    path: Option<String>,
    body: Option<FunctionNamespace>,
) -> Result<FunctionNamespace> {
    let mut ns = body.unwrap_or_default();
    match path {
        Some(p) if ns.name.is_empty() => ns.name = p,
        Some(p) if ns.name != p => {
            return Err(GatewayError::bad_request(
                "name",
                format!("body names {:?} but the path names {p:?}", ns.name),
            ));
        }
        _ => {}
    }
    if ns.name.is_empty() {
        return Err(GatewayError::bad_request(
            "name",
            "the namespace name is required",
        ));
    }
    Ok(ns)
}

/// `POST /system/namespace/{ns}` (or `/system/namespace/` with the name in the body): 201.
pub async fn create_namespace(
    State(state): State<AppState>,
    path: Option<Path<String>>,
    JsonBody(body): JsonBody<FunctionNamespace>,
) -> Result<StatusCode> {
    let ns = namespace_body(path.map(|Path(p)| p), body)?;
    faas_core::validate::function_namespace(&ns)?;
    state.provider().create_namespace(ns).await?;
    Ok(StatusCode::CREATED)
}

/// `PUT /system/namespace/{ns}`: 202.
pub async fn update_namespace(
    State(state): State<AppState>,
    Path(p): Path<String>,
    JsonBody(body): JsonBody<FunctionNamespace>,
) -> Result<StatusCode> {
    let ns = namespace_body(Some(p), body)?;
    faas_core::validate::function_namespace(&ns)?;
    state.provider().update_namespace(ns).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /system/namespace/{ns}`: 202.
pub async fn delete_namespace(
    State(state): State<AppState>,
    Path(p): Path<String>,
    JsonBody(body): JsonBody<FunctionNamespace>,
) -> Result<StatusCode> {
    let ns = namespace_body(Some(p), body)?;
    state.provider().delete_namespace(&ns.name).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The body of `GET /system/info`.
#[derive(Debug, Serialize)]
pub struct GatewayInfo {
    /// The provider's info (with our capabilities).
    pub provider: faas_core::ProviderInfo,
    /// The gateway's own version.
    pub version: VersionInfo,
    /// The CPU architecture the gateway was built for.
    pub arch: &'static str,
}

/// The gateway's version info.
pub fn gateway_version() -> VersionInfo {
    VersionInfo {
        commit_message: String::new(),
        sha: option_env!("FAAS_GATEWAY_GIT_SHA")
            .unwrap_or("unknown")
            .to_owned(),
        release: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// `GET /system/info`.
pub async fn info(State(state): State<AppState>) -> Result<Json<GatewayInfo>> {
    let provider = state.provider().info().await?;
    Ok(Json(GatewayInfo {
        provider,
        version: gateway_version(),
        arch: std::env::consts::ARCH,
    }))
}

/// `GET /healthz`: 200 when the provider is healthy.
pub async fn healthz(State(state): State<AppState>) -> Result<&'static str> {
    state.provider().health().await?;
    Ok("OK")
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
        .into_response()
}
