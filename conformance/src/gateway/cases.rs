//! The gateway checks, each citing its `GW-*` clause of SPEC.md.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::failure::{CheckResult, Failure, ensure, fail};
use crate::gateway::client::unsupported_status;
use crate::gateway::{GatewayCase, GwCtx};
use crate::provider::cases::deploy::SOME_JSON;
use crate::provider::ctx::truncate;
use crate::wait::{Probe, eventually};

macro_rules! registry {
    ($( $func:ident, $clause:literal, $stmt:literal; )*) => {
        vec![ $( GatewayCase {
            id: concat!("gateway::", stringify!($func)),
            clause: $clause,
            statement: $stmt,
            run: |ctx| Box::pin(async move { $func(&ctx).await }),
        }, )* ]
    };
}

/// Every gateway check, in the order they run.
pub fn all() -> Vec<GatewayCase> {
    registry! {
        healthz, "GW-1", "/healthz answers 200 without credentials";
        auth_required, "GW-2", "every /system route needs credentials (401 + WWW-Authenticate)";
        system_info, "GW-3", "/system/info names provider, orchestration and versions";
        deploy_list_describe, "GW-4", "deploy, list and describe show every field sent";
        namespaces, "GW-5", "/system/namespaces lists the namespace in use";
        invoke_verbs, "GW-6", "every verb reaches the function, with X-Call-Id and X-Start-Time";
        query_and_env, "GW-7", "query strings and env vars reach the function";
        headers, "GW-16", "a sent X-Call-Id is echoed, X-Start-Time is set, the function sees X-Forwarded-For";
        invoke_not_found, "GW-8", "invoking a missing function answers 404";
        error_codes, "GW-9", "bad JSON is 400 naming the field; unknown functions are 404";
        scale_to_zero_and_back, "GW-10", "scale sets replicas; from zero the next call succeeds";
        secrets, "GW-11", "secrets: create, read by a function, list, update, delete";
        logs, "GW-12", "/system/logs returns the watchdog's lines as NDJSON";
        metrics, "GW-13", "gateway_function_invocation_total counts calls per function";
        async_invoke, "GW-14", "/async-function answers 202 + X-Call-Id and calls back";
        delete, "GW-15", "DELETE /system/functions removes the function";
    }
}

/// GW-1: `/healthz` answers 200 without credentials.
pub async fn healthz(ctx: &GwCtx) -> CheckResult {
    let r = ctx
        .call(ctx.bare(Method::GET, "/healthz"), "GW-1", "GET /healthz")
        .await?;
    ensure!(
        r.status == StatusCode::OK,
        "GW-1",
        "GET /healthz answered {}",
        r.status
    );
    Ok(())
}

/// GW-2: every `/system` route answers 401 with `WWW-Authenticate: Basic` without or with
/// wrong credentials.
pub async fn auth_required(ctx: &GwCtx) -> CheckResult {
    let routes: [(Method, &str); 23] = [
        (Method::GET, "/system/functions"),
        (Method::POST, "/system/functions"),
        (Method::PUT, "/system/functions"),
        (Method::DELETE, "/system/functions"),
        (Method::GET, "/system/function/conf-auth"),
        (Method::POST, "/system/scale-function/conf-auth"),
        (Method::GET, "/system/info"),
        (Method::GET, "/system/secrets"),
        (Method::POST, "/system/secrets"),
        (Method::PUT, "/system/secrets"),
        (Method::DELETE, "/system/secrets"),
        (Method::GET, "/system/logs?name=conf-auth"),
        (Method::GET, "/system/namespaces"),
        (Method::POST, "/system/namespaces"),
        (Method::POST, "/system/namespace/"),
        (Method::GET, "/system/namespace/conf-auth"),
        (Method::POST, "/system/namespace/conf-auth"),
        (Method::PUT, "/system/namespace/conf-auth"),
        (Method::DELETE, "/system/namespace/conf-auth"),
        (Method::GET, "/system/async/dead-letters"),
        (Method::DELETE, "/system/async/dead-letters/conf-auth"),
        (Method::POST, "/system/async/dead-letters/conf-auth/replay"),
        (Method::GET, "/system/async/stats"),
    ];
    for (method, path) in routes {
        for (label, req) in [
            ("no credentials", ctx.bare(method.clone(), path)),
            (
                "wrong password",
                ctx.bare(method.clone(), path)
                    .basic_auth(&ctx.options.user, Some("definitely-wrong")),
            ),
        ] {
            let r = ctx
                .call(req.json(&json!({})), "GW-2", &format!("{method} {path}"))
                .await?;
            ensure!(
                r.status == StatusCode::UNAUTHORIZED,
                "GW-2",
                "{method} {path} with {label} answered {}, expected 401",
                r.status
            );
            let www = r.header("www-authenticate").unwrap_or_default();
            ensure!(
                www.to_ascii_lowercase().starts_with("basic"),
                "GW-2",
                "{method} {path} with {label}: WWW-Authenticate is {www:?}, expected Basic"
            );
        }
    }
    Ok(())
}

fn non_empty(v: &Value, path: &[&str]) -> bool {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// GW-3: `/system/info` names the provider, orchestration and both versions.
pub async fn system_info(ctx: &GwCtx) -> CheckResult {
    let r = ctx
        .call(
            ctx.sys(Method::GET, "/system/info"),
            "GW-3",
            "GET /system/info",
        )
        .await?;
    ensure!(
        r.status == StatusCode::OK,
        "GW-3",
        "GET /system/info answered {}",
        r.status
    );
    let Some(v) = r.json() else {
        fail!(
            "GW-3",
            "GET /system/info is not JSON: {}",
            truncate(&r.text())
        )
    };
    for path in [
        &["provider", "provider"][..],
        &["provider", "orchestration"],
        &["provider", "version", "release"],
        &["version", "release"],
        &["version", "sha"],
    ] {
        ensure!(
            non_empty(&v, path),
            "GW-3",
            "/system/info lacks a non-empty {}: {v}",
            path.join(".")
        );
    }
    Ok(())
}

/// The function with `name` in a `/system/functions` list.
fn find<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|f| f["name"] == name)
}

/// GW-4: deploy, then list and describe show image, labels (+ `faas_function`), byte-exact
/// annotations, verbatim limits, and no invented requests.
pub async fn deploy_list_describe(ctx: &GwCtx) -> CheckResult {
    let mut d = ctx.deployment(&ctx.options.functions.env.clone());
    d["labels"] = json!({"upstream_uri": "example.com", "canary_build": "true"});
    d["annotations"] =
        json!({"important-date": "Wed, 01 Jan 2025 12:34:56 +0000", "some-json": SOME_JSON});
    d["limits"] = json!({"memory": "5Mi", "cpu": "100m"});
    d["envVars"] = json!({"custom_env": "custom_env_value"});
    let name = ctx.deploy(&d, "GW-4").await?;
    let r = ctx
        .call(
            ctx.sys(Method::GET, &format!("/system/functions{}", ctx.ns_query())),
            "GW-4",
            "list",
        )
        .await?;
    ensure!(
        r.status == StatusCode::OK,
        "GW-4",
        "GET /system/functions answered {}",
        r.status
    );
    let list = r.json().unwrap_or(Value::Null);
    let Some(f) = find(&list, &name) else {
        fail!(
            "GW-4",
            "GET /system/functions does not list {name}: {}",
            truncate(&r.text())
        )
    };
    let mut problems = Vec::new();
    if f["image"] != d["image"] {
        problems.push(format!("image {}", f["image"]));
    }
    for (k, v) in d["labels"].as_object().into_iter().flatten() {
        if &f["labels"][k] != v {
            problems.push(format!("labels.{k} = {}", f["labels"][k]));
        }
    }
    if f["labels"]["faas_function"] != json!(name) {
        problems.push(format!(
            "labels.faas_function = {}",
            f["labels"]["faas_function"]
        ));
    }
    for (k, v) in d["annotations"].as_object().into_iter().flatten() {
        if &f["annotations"][k] != v {
            problems.push(format!("annotations.{k} = {}", f["annotations"][k]));
        }
    }
    if f["limits"]["memory"] != "5Mi" || f["limits"]["cpu"] != "100m" {
        problems.push(format!("limits = {}", f["limits"]));
    }
    if f.get("requests").is_some_and(|r| !r.is_null()) {
        problems.push(format!("requests invented: {}", f["requests"]));
    }
    if f["envVars"] != d["envVars"] {
        problems.push(format!("envVars = {}", f["envVars"]));
    }
    ensure!(
        problems.is_empty(),
        "GW-4",
        "{name} as listed: {}",
        problems.join("; ")
    );
    let r = ctx
        .describe(&name)
        .await
        .map_err(|e| Failure::failed("GW-4", e))?;
    ensure!(
        r.status == StatusCode::OK,
        "GW-4",
        "GET /system/function/{name} answered {}",
        r.status
    );
    let got = r.json().unwrap_or(Value::Null);
    ensure!(
        got["image"] == d["image"] && got["name"] == json!(name),
        "GW-4",
        "describe of {name} returned {}",
        truncate(&r.text())
    );
    Ok(())
}

/// GW-5: `/system/namespaces` lists the namespace in use.
pub async fn namespaces(ctx: &GwCtx) -> CheckResult {
    let r = ctx
        .call(
            ctx.sys(Method::GET, "/system/namespaces"),
            "GW-5",
            "GET /system/namespaces",
        )
        .await?;
    ensure!(
        r.status == StatusCode::OK,
        "GW-5",
        "GET /system/namespaces answered {}",
        r.status
    );
    let list: Vec<String> = serde_json::from_slice(&r.body)
        .map_err(|e| Failure::failed("GW-5", format!("not a JSON list of names: {e}")))?;
    ensure!(!list.is_empty(), "GW-5", "GET /system/namespaces is empty");
    if !ctx.ns().is_empty() {
        ensure!(
            list.iter().any(|n| n == ctx.ns()),
            "GW-5",
            "{list:?} lacks {}",
            ctx.ns()
        );
    }
    Ok(())
}

/// GW-6: GET, POST, PUT, PATCH and DELETE reach the env function (`Http_Method=<VERB>`), and
/// every response has `X-Call-Id` and `X-Start-Time`.
pub async fn invoke_verbs(ctx: &GwCtx) -> CheckResult {
    let name = ctx
        .deploy(&ctx.deployment(&ctx.options.functions.env.clone()), "GW-6")
        .await?;
    ctx.invoke_until(&name, "", "Http_Method=POST", "GW-6")
        .await?;
    for verb in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ] {
        let r = ctx
            .invoke(verb.clone(), &name, "", "")
            .await
            .map_err(|e| Failure::failed("GW-6", e))?;
        ensure!(
            r.status == StatusCode::OK,
            "GW-6",
            "{verb} {} answered {}",
            ctx.function_path(&name),
            r.status
        );
        let want = format!("Http_Method={verb}");
        ensure!(
            r.text().contains(&want),
            "GW-6",
            "{verb}: body lacks {want:?}: {}",
            truncate(&r.text())
        );
        for h in ["x-call-id", "x-start-time"] {
            ensure!(
                r.header(h).is_some_and(|v| !v.is_empty()),
                "GW-6",
                "{verb}: response lacks header {h}"
            );
        }
    }
    Ok(())
}

/// GW-7: `?testing=1` shows as `Http_Query=testing=1`; deployed env vars are visible.
pub async fn query_and_env(ctx: &GwCtx) -> CheckResult {
    let mut d = ctx.deployment(&ctx.options.functions.env.clone());
    d["envVars"] = json!({"custom_env": "custom_env_value"});
    let name = ctx.deploy(&d, "GW-7").await?;
    ctx.invoke_until(&name, "", "custom_env=custom_env_value", "GW-7")
        .await?;
    let r = ctx
        .invoke(Method::GET, &name, "?testing=1", "")
        .await
        .map_err(|e| Failure::failed("GW-7", e))?;
    ensure!(
        r.status == StatusCode::OK && r.text().contains("Http_Query=testing=1"),
        "GW-7",
        "GET ?testing=1 answered {}: {}",
        r.status,
        truncate(&r.text())
    );
    Ok(())
}

/// A random version-4 UUID, the form OpenFaaS gives call ids.
fn uuid_v4() -> String {
    let b: [u8; 16] = rand::random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let variant = ["8", "9", "a", "b"][usize::from(b[8] >> 6)];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// GW-16: a caller's `X-Call-Id` comes back unchanged, `X-Start-Time` is a decimal timestamp,
/// and the function sees `X-Forwarded-For` (as the CGI variable `Http_X_Forwarded_For` the env
/// function prints; skipped, after the response headers passed, when the env function prints
/// no `Http_*` variables and so cannot show what it received).
pub async fn headers(ctx: &GwCtx) -> CheckResult {
    let name = ctx
        .deploy(&ctx.deployment(&ctx.options.functions.env.clone()), "GW-16")
        .await?;
    // Any 200 will do: whether the env function shows Http_* variables is decided below.
    ctx.invoke_until(&name, "", "", "GW-16").await?;
    let call_id = uuid_v4();
    let r = ctx
        .call(
            ctx.bare(Method::POST, &ctx.function_path(&name))
                .header("X-Call-Id", &call_id)
                .body(""),
            "GW-16",
            "POST /function with X-Call-Id",
        )
        .await?;
    ensure!(
        r.status == StatusCode::OK,
        "GW-16",
        "POST {} with X-Call-Id answered {}: {}",
        ctx.function_path(&name),
        r.status,
        truncate(&r.text())
    );
    let echoed = r.header("x-call-id");
    ensure!(
        echoed == Some(call_id.as_str()),
        "GW-16",
        "sent X-Call-Id: {call_id}, the response carries {echoed:?}"
    );
    let start = r.header("x-start-time").unwrap_or_default();
    ensure!(
        !start.is_empty() && start.bytes().all(|b| b.is_ascii_digit()),
        "GW-16",
        "X-Start-Time is {start:?}, expected a decimal Unix timestamp"
    );
    let text = r.text();
    if !text.lines().any(|l| l.starts_with("Http_Method=")) {
        return Err(Failure::skipped(format!(
            "X-Call-Id and X-Start-Time passed, but the env function ({:?}) prints no Http_* variables, so the request headers it received cannot be observed",
            ctx.options.functions.env
        )));
    }
    let forwarded = text
        .lines()
        .find_map(|l| l.strip_prefix("Http_X_Forwarded_For="));
    ensure!(
        forwarded.is_some_and(|v| !v.trim().is_empty()),
        "GW-16",
        "the function did not see X-Forwarded-For (no non-empty Http_X_Forwarded_For in its environment; its Http_* variables: {})",
        truncate(
            &text
                .lines()
                .filter(|l| l.starts_with("Http_"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    );
    Ok(())
}

/// GW-8: invoking a function that does not exist answers 404 (502 tolerated, as the certifier).
pub async fn invoke_not_found(ctx: &GwCtx) -> CheckResult {
    let name = ctx.name();
    let r = ctx
        .invoke(Method::POST, &name, "", "x")
        .await
        .map_err(|e| Failure::failed("GW-8", e))?;
    ensure!(
        r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_GATEWAY,
        "GW-8",
        "invoking missing {name} answered {}",
        r.status
    );
    Ok(())
}

/// GW-9: bad JSON is 400 (naming the field); an invalid name is 400 naming `service`; describe,
/// delete and scale of an unknown function are 404.
pub async fn error_codes(ctx: &GwCtx) -> CheckResult {
    let r = ctx
        .call(
            ctx.sys(Method::POST, "/system/functions")
                .header("content-type", "application/json")
                .body("{\"service\": 5,"),
            "GW-9",
            "deploy of broken JSON",
        )
        .await?;
    ensure!(
        r.status == StatusCode::BAD_REQUEST,
        "GW-9",
        "deploy of broken JSON answered {}",
        r.status
    );
    let r = ctx
        .call(
            ctx.sys(Method::POST, "/system/functions")
                .json(&json!({"service": 5, "image": "x"})),
            "GW-9",
            "deploy with a number as service",
        )
        .await?;
    ensure!(
        r.status == StatusCode::BAD_REQUEST,
        "GW-9",
        "deploy with service=5 answered {}",
        r.status
    );
    ensure!(
        r.text().contains("service"),
        "GW-9",
        "deploy with service=5: the 400 body does not name `service`: {}",
        truncate(&r.text())
    );
    let mut bad = ctx.deployment(&ctx.options.functions.echo.clone());
    bad["service"] = json!("Bad_Name");
    let r = ctx
        .call(
            ctx.sys(Method::POST, "/system/functions").json(&bad),
            "GW-9",
            "deploy of an invalid name",
        )
        .await?;
    ensure!(
        r.status == StatusCode::BAD_REQUEST,
        "GW-9",
        "deploy of name Bad_Name answered {}",
        r.status
    );
    ensure!(
        r.text().contains("service"),
        "GW-9",
        "deploy of name Bad_Name: the 400 body does not name `service`: {}",
        truncate(&r.text())
    );
    let missing = ctx.name();
    let r = ctx
        .describe(&missing)
        .await
        .map_err(|e| Failure::failed("GW-9", e))?;
    ensure!(
        r.status == StatusCode::NOT_FOUND,
        "GW-9",
        "describe of missing {missing} answered {}",
        r.status
    );
    let r = ctx
        .call(
            ctx.sys(Method::DELETE, "/system/functions")
                .json(&json!({"functionName": missing, "namespace": ctx.ns()})),
            "GW-9",
            "delete",
        )
        .await?;
    ensure!(
        r.status == StatusCode::NOT_FOUND,
        "GW-9",
        "delete of missing {missing} answered {}",
        r.status
    );
    let r = ctx
        .call(
            ctx.sys(
                Method::POST,
                &format!("/system/scale-function/{missing}{}", ctx.ns_query()),
            )
            .json(&json!({"serviceName": missing, "replicas": 1, "namespace": ctx.ns()})),
            "GW-9",
            "scale",
        )
        .await?;
    ensure!(
        r.status == StatusCode::NOT_FOUND,
        "GW-9",
        "scale of missing {missing} answered {}",
        r.status
    );
    Ok(())
}

async fn replicas(ctx: &GwCtx, name: &str) -> Result<(u64, u64), String> {
    let r = ctx.describe(name).await?;
    if r.status != StatusCode::OK {
        return Err(format!("describe answered {}", r.status));
    }
    let v = r.json().ok_or("describe is not JSON")?;
    Ok((
        v["replicas"].as_u64().unwrap_or(0),
        v["availableReplicas"].as_u64().unwrap_or(0),
    ))
}

async fn scale(ctx: &GwCtx, name: &str, n: u64) -> Result<crate::gateway::client::GwReply, String> {
    let body = json!({"serviceName": name, "replicas": n, "namespace": ctx.ns()});
    ctx.send(
        ctx.sys(
            Method::POST,
            &format!("/system/scale-function/{name}{}", ctx.ns_query()),
        )
        .json(&body),
    )
    .await
}

/// GW-10: scaling sets replicas; at zero the suite waits (with a deadline) until `replicas == 0`
/// is observed, and the next invocation succeeds (scale from zero).
pub async fn scale_to_zero_and_back(ctx: &GwCtx) -> CheckResult {
    let name = ctx
        .deploy(
            &ctx.deployment(&ctx.options.functions.echo.clone()),
            "GW-10",
        )
        .await?;
    ctx.invoke_until(&name, "warm", "warm", "GW-10").await?;
    let r = scale(ctx, &name, 2)
        .await
        .map_err(|e| Failure::failed("GW-10", e))?;
    ensure!(
        r.status == StatusCode::OK || r.status == StatusCode::ACCEPTED,
        "GW-10",
        "scale to 2 answered {}: {}",
        r.status,
        r.text()
    );
    eventually(ctx.options.settle_timeout, || async {
        match replicas(ctx, &name).await {
            Ok((2, 2)) => Probe::Done(()),
            Ok((r, a)) => Probe::Pending(format!("replicas={r} availableReplicas={a}")),
            Err(e) => Probe::Pending(e),
        }
    })
    .await
    .map_err(|e| Failure::failed("GW-10", format!("scale to 2: {e}")))?;
    let r = scale(ctx, &name, 0)
        .await
        .map_err(|e| Failure::failed("GW-10", e))?;
    if r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::NOT_IMPLEMENTED {
        return Err(Failure::skipped(format!(
            "the gateway does not scale to zero (answered {}: {})",
            r.status,
            truncate(&r.text())
        )));
    }
    ensure!(
        r.status == StatusCode::OK || r.status == StatusCode::ACCEPTED,
        "GW-10",
        "scale to 0 answered {}: {}",
        r.status,
        r.text()
    );
    eventually(ctx.options.settle_timeout, || async {
        match replicas(ctx, &name).await {
            Ok((0, 0)) => Probe::Done(()),
            Ok((r, a)) => Probe::Pending(format!("replicas={r} availableReplicas={a}")),
            Err(e) => Probe::Pending(e),
        }
    })
    .await
    .map_err(|e| Failure::failed("GW-10", format!("scale to 0 was never observed: {e}")))?;
    let r = ctx
        .invoke(Method::POST, &name, "", "from-zero")
        .await
        .map_err(|e| Failure::failed("GW-10", e))?;
    ensure!(
        r.status == StatusCode::OK && r.text().contains("from-zero"),
        "GW-10",
        "the first call at zero replicas answered {}: {}",
        r.status,
        truncate(&r.text())
    );
    Ok(())
}

/// GW-11: a secret is created, read by a function, listed, updated (the redeployed function
/// reads the new value) and deleted.
pub async fn secrets(ctx: &GwCtx) -> CheckResult {
    let secret = ctx.name();
    ctx.record_secret(&secret);
    let body = json!({"name": secret, "value": "secret-one", "namespace": ctx.ns()});
    let r = ctx
        .call(
            ctx.sys(Method::POST, "/system/secrets").json(&body),
            "GW-11",
            "create secret",
        )
        .await?;
    if unsupported_status(r.status) {
        return Err(Failure::skipped(format!(
            "the gateway does not serve secrets (POST /system/secrets answered {})",
            r.status
        )));
    }
    ensure!(
        matches!(r.status.as_u16(), 200..=202),
        "GW-11",
        "create secret answered {}: {}",
        r.status,
        r.text()
    );
    let mut d = ctx.deployment(&ctx.options.functions.secret_reader_for(&secret));
    d["secrets"] = json!([secret]);
    let name = ctx.deploy(&d, "GW-11").await?;
    ctx.invoke_until(&name, "", "secret-one", "GW-11").await?;
    let r = ctx
        .call(
            ctx.sys(Method::GET, &format!("/system/secrets{}", ctx.ns_query())),
            "GW-11",
            "list secrets",
        )
        .await?;
    ensure!(
        r.status == StatusCode::OK && r.text().contains(&secret),
        "GW-11",
        "list secrets answered {} without {secret}: {}",
        r.status,
        truncate(&r.text())
    );
    ensure!(
        !r.text().contains("secret-one"),
        "GW-11",
        "list secrets shows the value"
    );
    let body = json!({"name": secret, "value": "secret-two", "namespace": ctx.ns()});
    let r = ctx
        .call(
            ctx.sys(Method::PUT, "/system/secrets").json(&body),
            "GW-11",
            "update secret",
        )
        .await?;
    if !unsupported_status(r.status) {
        ensure!(
            matches!(r.status.as_u16(), 200 | 202),
            "GW-11",
            "update secret answered {}: {}",
            r.status,
            r.text()
        );
        d["annotations"] = json!({"secret-hash": "two"});
        let r = ctx
            .call(
                ctx.sys(Method::PUT, "/system/functions").json(&d),
                "GW-11",
                "redeploy",
            )
            .await?;
        ensure!(
            matches!(r.status.as_u16(), 200 | 202),
            "GW-11",
            "PUT /system/functions answered {}: {}",
            r.status,
            r.text()
        );
        ctx.invoke_until(&name, "", "secret-two", "GW-11").await?;
    }
    let del = json!({"functionName": name, "namespace": ctx.ns()});
    let r = ctx
        .call(
            ctx.sys(Method::DELETE, "/system/functions").json(&del),
            "GW-11",
            "delete function",
        )
        .await?;
    ensure!(
        r.status.is_success(),
        "GW-11",
        "delete function answered {}",
        r.status
    );
    let r = ctx
        .call(
            ctx.sys(Method::DELETE, "/system/secrets")
                .json(&json!({"name": secret, "namespace": ctx.ns()})),
            "GW-11",
            "delete secret",
        )
        .await?;
    ensure!(
        matches!(r.status.as_u16(), 200 | 202 | 204),
        "GW-11",
        "delete secret answered {}: {}",
        r.status,
        r.text()
    );
    let r = ctx
        .call(
            ctx.sys(Method::GET, &format!("/system/secrets{}", ctx.ns_query())),
            "GW-11",
            "list secrets",
        )
        .await?;
    ensure!(
        !r.text().contains(&secret),
        "GW-11",
        "{secret} is still listed after delete"
    );
    Ok(())
}

/// GW-12: `/system/logs` returns NDJSON lines naming the function, with `Wrote <N> Bytes`.
pub async fn logs(ctx: &GwCtx) -> CheckResult {
    let name = ctx
        .deploy(
            &ctx.deployment(&ctx.options.functions.echo.clone()),
            "GW-12",
        )
        .await?;
    let body = format!("log-line-for-{name}");
    ctx.invoke_until(&name, &body, &body, "GW-12").await?;
    let wrote = format!("Wrote {} Bytes", body.len());
    let ns = if ctx.ns().is_empty() {
        String::new()
    } else {
        format!("&namespace={}", ctx.ns())
    };
    let path = format!("/system/logs?name={name}{ns}&follow=false");
    let first = ctx
        .call(ctx.sys(Method::GET, &path), "GW-12", "GET /system/logs")
        .await?;
    if unsupported_status(first.status) && first.status != StatusCode::NOT_FOUND {
        return Err(Failure::skipped(format!(
            "the gateway does not serve logs (answered {})",
            first.status
        )));
    }
    eventually(ctx.options.settle_timeout, || async {
        let r = match ctx.send(ctx.sys(Method::GET, &path)).await {
            Ok(r) => r,
            Err(e) => return Probe::Pending(e),
        };
        if r.status != StatusCode::OK {
            return Probe::Pending(format!("{}: {}", r.status, truncate(&r.text())));
        }
        let lines: Vec<Value> = r
            .text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if let Some(bad) = lines.iter().find(|l| l["name"] != json!(name)) {
            return Probe::Done(Err(format!("a log line names another function: {bad}")));
        }
        if lines
            .iter()
            .any(|l| l["text"].as_str().is_some_and(|t| t.contains(&wrote)))
        {
            Probe::Done(Ok(()))
        } else {
            Probe::Pending(format!("{} lines, none with {wrote:?}", lines.len()))
        }
    })
    .await
    .map_err(|e| Failure::failed("GW-12", e))?
    .map_err(|e| Failure::failed("GW-12", e))
}

/// GW-13: after calls, `gateway_function_invocation_total` has a series for the function.
pub async fn metrics(ctx: &GwCtx) -> CheckResult {
    let name = ctx
        .deploy(
            &ctx.deployment(&ctx.options.functions.echo.clone()),
            "GW-13",
        )
        .await?;
    ctx.invoke_until(&name, "count-me", "count-me", "GW-13")
        .await?;
    let url = ctx
        .options
        .metrics_url
        .clone()
        .unwrap_or_else(|| format!("{}/metrics", ctx.options.url));
    let label = format!("function_name=\"{name}");
    eventually(ctx.options.settle_timeout, || async {
        match ctx.send(ctx_get(ctx, &url)).await {
            Ok(r) if r.status == StatusCode::OK => {
                let text = r.text();
                if text.lines().any(|l| {
                    l.starts_with("gateway_function_invocation_total") && l.contains(&label)
                }) {
                    Probe::Done(())
                } else {
                    Probe::Pending(format!(
                        "{url} has no gateway_function_invocation_total series with {label}\""
                    ))
                }
            }
            Ok(r) => Probe::Pending(format!("{url} answered {}", r.status)),
            Err(e) => Probe::Pending(e),
        }
    })
    .await
    .map_err(|e| Failure::failed("GW-13", e))
}

fn ctx_get(ctx: &GwCtx, url: &str) -> reqwest::RequestBuilder {
    // The metrics URL may live on another port; send credentials only to the gateway itself.
    if url.starts_with(&ctx.options.url) {
        let path = &url[ctx.options.url.len()..];
        ctx.sys(Method::GET, path)
    } else {
        reqwest::Client::new().get(url)
    }
}

/// GW-14: `/async-function/<name>` answers 202 with `X-Call-Id`, and the function's result
/// reaches the `X-Callback-Url`.
///
/// Only a 404 on the route (with and without credentials) means "not served" and skips; a 503
/// with `Retry-After` (queue full or unreachable) is retried as it says until the settle
/// deadline and then fails, and any other status fails.
pub async fn async_invoke(ctx: &GwCtx) -> CheckResult {
    let name = ctx
        .deploy(
            &ctx.deployment(&ctx.options.functions.echo.clone()),
            "GW-14",
        )
        .await?;
    ctx.invoke_until(&name, "sync-first", "sync-first", "GW-14")
        .await?;
    let mut cb = crate::gateway::callback::CallbackServer::start()
        .await
        .map_err(|e| Failure::failed("GW-14", format!("starting the callback receiver: {e}")))?;
    let path = ctx
        .function_path(&name)
        .replacen("/function/", "/async-function/", 1);
    let body = format!("async-body-{name}");
    let send = || {
        ctx.call(
            ctx.bare(Method::POST, &path)
                .header("X-Callback-Url", cb.url())
                .body(body.clone()),
            "GW-14",
            "POST /async-function",
        )
    };
    let mut r = send().await?;
    let retry_until = tokio::time::Instant::now() + ctx.options.settle_timeout;
    while r.status == StatusCode::SERVICE_UNAVAILABLE {
        let Some(after) = r.header("retry-after").map(str::to_owned) else {
            fail!(
                "GW-14",
                "POST {path} answered 503 without Retry-After: {}",
                truncate(&r.text())
            )
        };
        // Delta-seconds; an HTTP-date (or garbage) waits one second.
        let wait = Duration::from_secs(after.trim().parse::<u64>().unwrap_or(1).max(1));
        if tokio::time::Instant::now() + wait > retry_until {
            fail!(
                "GW-14",
                "POST {path} kept answering 503 with Retry-After: {after} until the {:?} deadline: the async queue is full or unreachable (a 503 is a failure to accept the call, not \"unsupported\"; only a 404 on the route is): {}",
                ctx.options.settle_timeout,
                truncate(&r.text())
            );
        }
        tokio::time::sleep(wait).await;
        r = send().await?;
    }
    if r.status == StatusCode::NOT_FOUND {
        return Err(Failure::skipped(format!(
            "the gateway does not serve async invocation (POST {path} answered 404)"
        )));
    }
    if r.status == StatusCode::UNAUTHORIZED {
        // A default-deny gateway answers 401 on routes it does not have: ask again with
        // credentials (with no callback) to tell "not served" from "served behind auth".
        let probe = ctx
            .call(
                ctx.sys(Method::POST, &path).body("probe"),
                "GW-14",
                "POST /async-function with credentials",
            )
            .await?;
        if probe.status == StatusCode::NOT_FOUND {
            return Err(Failure::skipped(format!(
                "the gateway does not serve async invocation (POST {path} answered 401 without and 404 with credentials)"
            )));
        }
        fail!(
            "GW-14",
            "POST {path} needs credentials (401 without, {} with); /async-function is public in OpenFaaS",
            probe.status
        );
    }
    ensure!(
        r.status == StatusCode::ACCEPTED,
        "GW-14",
        "POST {path} answered {}, expected 202",
        r.status
    );
    ensure!(
        r.header("x-call-id").is_some_and(|v| !v.is_empty()),
        "GW-14",
        "the 202 lacks X-Call-Id"
    );
    let got = tokio::time::timeout(
        ctx.options.settle_timeout.max(Duration::from_secs(1)),
        cb.received.recv(),
    )
    .await;
    match got {
        Ok(Some(c)) => {
            ensure!(
                c.body == body.as_bytes(),
                "GW-14",
                "the callback carried {:?}, expected {body:?}",
                String::from_utf8_lossy(&c.body)
            );
            Ok(())
        }
        Ok(None) => fail!("GW-14", "the callback receiver stopped"),
        Err(_) => fail!(
            "GW-14",
            "no callback within {:?}",
            ctx.options.settle_timeout
        ),
    }
}

/// GW-15: `DELETE /system/functions` removes the function.
pub async fn delete(ctx: &GwCtx) -> CheckResult {
    let name = ctx
        .deploy(
            &ctx.deployment(&ctx.options.functions.echo.clone()),
            "GW-15",
        )
        .await?;
    let r = ctx
        .describe(&name)
        .await
        .map_err(|e| Failure::failed("GW-15", e))?;
    ensure!(
        r.status == StatusCode::OK,
        "GW-15",
        "describe after deploy answered {}",
        r.status
    );
    let del = json!({"functionName": name, "namespace": ctx.ns()});
    let r = ctx
        .call(
            ctx.sys(Method::DELETE, "/system/functions").json(&del),
            "GW-15",
            "delete",
        )
        .await?;
    ensure!(
        r.status.is_success(),
        "GW-15",
        "DELETE /system/functions answered {}: {}",
        r.status,
        r.text()
    );
    let r = ctx
        .describe(&name)
        .await
        .map_err(|e| Failure::failed("GW-15", e))?;
    ensure!(
        r.status == StatusCode::NOT_FOUND,
        "GW-15",
        "describe after delete answered {}",
        r.status
    );
    Ok(())
}
