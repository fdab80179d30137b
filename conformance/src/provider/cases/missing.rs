//! NF: every operation on a function that does not exist is `NotFound`.

use std::time::Duration;

use faas_core::{ErrorKind, LogRequest, ScaleRequest};

use crate::failure::CheckResult;
use crate::provider::Ctx;
use crate::provider::ctx::expect_kind;

/// NF-1: get of a missing function is `NotFound`.
pub async fn get(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    expect_kind(
        ctx.provider.get(&name, &ctx.namespace).await,
        ErrorKind::NotFound,
        "NF-1",
        "get of a missing function",
    )?;
    Ok(())
}

/// NF-1: delete of a missing function is `NotFound`.
pub async fn delete(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    expect_kind(
        ctx.provider.delete(&name, &ctx.namespace).await,
        ErrorKind::NotFound,
        "NF-1",
        "delete of a missing function",
    )?;
    Ok(())
}

/// NF-1: scale of a missing function is `NotFound`.
pub async fn scale(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    let r = ctx
        .provider
        .scale(ScaleRequest::new(&name, &ctx.namespace, 1))
        .await;
    expect_kind(
        r,
        ErrorKind::NotFound,
        "NF-1",
        "scale of a missing function",
    )?;
    Ok(())
}

/// UPD-3: update of a missing function is `NotFound` and creates nothing.
pub async fn update(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    let name = d.service.clone();
    ctx.fixture.function(&name, ctx.ns());
    expect_kind(
        ctx.provider.update(d).await,
        ErrorKind::NotFound,
        "UPD-3",
        "update of a missing function",
    )?;
    expect_kind(
        ctx.provider.get(&name, &ctx.namespace).await,
        ErrorKind::NotFound,
        "UPD-3",
        "get after the rejected update",
    )?;
    Ok(())
}

/// NF-1: resolve of a missing function is `NotFound` (not an empty list).
pub async fn resolve(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    expect_kind(
        ctx.provider.resolve(&name, &ctx.namespace).await,
        ErrorKind::NotFound,
        "NF-1",
        "resolve of a missing function",
    )?;
    Ok(())
}

/// NF-1: wait_ready of a missing function is `NotFound` (not `Timeout`).
pub async fn wait_ready(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    let r = ctx
        .provider
        .wait_ready(&name, &ctx.namespace, Duration::from_secs(2))
        .await;
    expect_kind(
        r,
        ErrorKind::NotFound,
        "NF-1",
        "wait_ready of a missing function",
    )?;
    Ok(())
}

/// NF-1: logs of a missing function is `NotFound`.
pub async fn logs(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    let r = ctx
        .provider
        .logs(LogRequest::new(&name, &ctx.namespace))
        .await
        .map(|_| "a log stream");
    expect_kind(r, ErrorKind::NotFound, "NF-1", "logs of a missing function")?;
    Ok(())
}
