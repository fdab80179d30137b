//! CAP: what `info()` does not declare fails with `Unsupported` (a false claim fails both ways:
//! a declared capability is checked by its topic's checks, an undeclared one here).

use faas_core::{ErrorKind, FunctionNamespace, LogRequest, ScaleRequest, Secret};

use crate::failure::{CheckResult, OrFail, ensure};
use crate::provider::Ctx;
use crate::provider::ctx::expect_kind;

/// CAP-1: without `scale`, scale is `Unsupported` and changes nothing.
pub async fn scale(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    ctx.deploy(d.clone()).await.or_fail("CAP-1", "deploy")?;
    let before = ctx.get(&d.service, &ctx.namespace, "CAP-1").await?;
    let r = ctx
        .provider
        .scale(ScaleRequest::new(
            &d.service,
            &ctx.namespace,
            before.replicas + 1,
        ))
        .await;
    expect_kind(
        r,
        ErrorKind::Unsupported,
        "CAP-1",
        "scale without the `scale` capability",
    )?;
    let after = ctx.get(&d.service, &ctx.namespace, "CAP-1").await?;
    ensure!(
        after.replicas == before.replicas,
        "CAP-1",
        "unsupported scale changed replicas from {} to {}",
        before.replicas,
        after.replicas
    );
    Ok(())
}

/// CAP-1: without `scale_can_zero`, scale to 0 is `Unsupported` and changes nothing.
pub async fn scale_can_zero(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    ctx.deploy(d.clone()).await.or_fail("CAP-1", "deploy")?;
    let r = ctx
        .provider
        .scale(ScaleRequest::new(&d.service, &ctx.namespace, 0))
        .await;
    expect_kind(
        r,
        ErrorKind::Unsupported,
        "CAP-1",
        "scale to 0 without `scale_can_zero`",
    )?;
    let after = ctx.get(&d.service, &ctx.namespace, "CAP-1").await?;
    ensure!(
        after.replicas >= 1,
        "CAP-1",
        "unsupported scale to 0 set replicas to {}",
        after.replicas
    );
    Ok(())
}

/// CAP-1: without `secrets`, list and create are `Unsupported`.
pub async fn secrets(ctx: &Ctx) -> CheckResult {
    expect_kind(
        ctx.provider.list_secrets(&ctx.namespace).await,
        ErrorKind::Unsupported,
        "CAP-1",
        "list_secrets without `secrets`",
    )?;
    let name = ctx.fixture.name();
    ctx.fixture.secret(&name, ctx.ns());
    expect_kind(
        ctx.provider
            .create_secret(Secret::new(&name, &ctx.namespace, "x"))
            .await,
        ErrorKind::Unsupported,
        "CAP-1",
        "create_secret without `secrets`",
    )?;
    Ok(())
}

/// CAP-1: without `secrets_can_update`, update_secret is `Unsupported`.
pub async fn secrets_can_update(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    if ctx.caps.secrets {
        ctx.create_secret(Secret::new(&name, &ctx.namespace, "one"))
            .await
            .or_fail("CAP-1", "create_secret")?;
    }
    let r = ctx
        .provider
        .update_secret(Secret::new(&name, &ctx.namespace, "two"))
        .await;
    expect_kind(
        r,
        ErrorKind::Unsupported,
        "CAP-1",
        "update_secret without `secrets_can_update`",
    )?;
    Ok(())
}

/// CAP-4: without `namespaces`, exactly the default namespace is listed.
pub async fn namespaces(ctx: &Ctx) -> CheckResult {
    let all = ctx
        .provider
        .list_namespaces()
        .await
        .or_fail("CAP-4", "list_namespaces")?;
    ensure!(
        all == [ctx.info.default_namespace.clone()],
        "CAP-4",
        "without `namespaces`, list_namespaces returned {all:?}, expected [{:?}]",
        ctx.info.default_namespace
    );
    Ok(())
}

/// CAP-1: without `namespaces_can_mutate`, create_namespace is `Unsupported` and creates nothing.
pub async fn namespaces_can_mutate(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    ctx.fixture.namespace(&name);
    let r = ctx
        .provider
        .create_namespace(FunctionNamespace::new(&name))
        .await;
    expect_kind(
        r,
        ErrorKind::Unsupported,
        "CAP-1",
        "create_namespace without `namespaces_can_mutate`",
    )?;
    let all = ctx
        .provider
        .list_namespaces()
        .await
        .or_fail("CAP-1", "list_namespaces")?;
    ensure!(
        !all.contains(&name),
        "CAP-1",
        "the unsupported create_namespace created {name}"
    );
    Ok(())
}

/// CAP-1: without `logs`, logs is `Unsupported`.
pub async fn logs(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    ctx.deploy(d.clone()).await.or_fail("CAP-1", "deploy")?;
    let r = ctx
        .provider
        .logs(LogRequest::new(&d.service, &ctx.namespace))
        .await
        .map(|_| "a log stream");
    expect_kind(r, ErrorKind::Unsupported, "CAP-1", "logs without `logs`")?;
    Ok(())
}

/// CAP-1: without `logs_can_follow`, logs with follow is `Unsupported`.
pub async fn logs_can_follow(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    ctx.deploy(d.clone()).await.or_fail("CAP-1", "deploy")?;
    let r = ctx
        .provider
        .logs(LogRequest::new(&d.service, &ctx.namespace).with_follow(true))
        .await
        .map(|_| "a log stream");
    expect_kind(
        r,
        ErrorKind::Unsupported,
        "CAP-1",
        "logs(follow) without `logs_can_follow`",
    )?;
    Ok(())
}
