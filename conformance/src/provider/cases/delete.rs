//! DEL: delete removes everything, and a second delete is `NotFound`.

use faas_core::ErrorKind;

use crate::failure::{CheckResult, Failure, OrFail, ensure};
use crate::provider::Ctx;
use crate::provider::ctx::expect_kind;
use crate::wait::{Probe, eventually};

/// DEL-1: after delete, get and resolve are `NotFound`, list omits it, and its replicas stop
/// answering.
pub async fn removes_everything(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    let eps = ctx.deploy_ready(d.clone(), "DEL-1").await?;
    let marker = format!("alive-{}", d.service);
    ctx.expect_answer(&eps[0], "/", &marker, &marker, "DEL-1")
        .await?;
    ctx.provider
        .delete(&d.service, &ctx.namespace)
        .await
        .or_fail("DEL-1", "delete")?;
    expect_kind(
        ctx.provider.get(&d.service, &ctx.namespace).await,
        ErrorKind::NotFound,
        "DEL-1",
        "get after delete",
    )?;
    expect_kind(
        ctx.provider.resolve(&d.service, &ctx.namespace).await,
        ErrorKind::NotFound,
        "DEL-1",
        "resolve after delete",
    )?;
    let list = ctx
        .provider
        .list(&ctx.namespace)
        .await
        .or_fail("DEL-1", "list")?;
    ensure!(
        !list.iter().any(|s| s.name == d.service),
        "DEL-1",
        "list still includes {} after delete",
        d.service
    );
    eventually(ctx.options.ready_timeout, || async {
        match ctx.invoke(&eps[0], "POST", "/", marker.as_str()).await {
            Ok(r) if r.status == 200 && r.text().contains(&marker) => {
                Probe::Pending(format!("{} still echoes after delete", eps[0].base_url()))
            }
            _ => Probe::Done(()),
        }
    })
    .await
    .map_err(|e| Failure::failed("DEL-1", e))
}

/// DEL-2: a second delete is `NotFound` and changes nothing (other functions keep running).
pub async fn twice_is_not_found(ctx: &Ctx) -> CheckResult {
    let gone = ctx.echo_function();
    let kept = ctx.echo_function().with_label("kept", "yes");
    ctx.deploy(gone.clone()).await.or_fail("DEL-2", "deploy")?;
    let eps = ctx.deploy_ready(kept.clone(), "DEL-2").await?;
    ctx.provider
        .delete(&gone.service, &ctx.namespace)
        .await
        .or_fail("DEL-2", "first delete")?;
    expect_kind(
        ctx.provider.delete(&gone.service, &ctx.namespace).await,
        ErrorKind::NotFound,
        "DEL-2",
        "second delete",
    )?;
    let got = ctx.get(&kept.service, &ctx.namespace, "DEL-2").await?;
    ensure!(
        got.labels.get("kept").map(String::as_str) == Some("yes"),
        "DEL-2",
        "the other function lost its label: {:?}",
        got.labels
    );
    ctx.expect_answer(&eps[0], "/", "still-here", "still-here", "DEL-2")
        .await?;
    Ok(())
}
