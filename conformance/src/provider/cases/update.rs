//! UPD: update replaces the spec and keeps the identity.

use faas_core::ErrorKind;

use crate::failure::{CheckResult, OrFail, ensure};
use crate::provider::Ctx;
use crate::provider::cases::deploy::names_field;
use crate::provider::ctx::expect_kind;
use crate::provider::fields::diff_fields;

/// UPD-1: update changes image, env and labels, and keeps name, namespace and createdAt.
pub async fn changes_spec_keeps_identity(ctx: &Ctx) -> CheckResult {
    let d = ctx
        .echo_function()
        .with_env("STAGE", "one")
        .with_label("stage", "one");
    ctx.deploy(d.clone()).await.or_fail("UPD-1", "deploy")?;
    let before = ctx.get(&d.service, &ctx.namespace, "UPD-1").await?;
    let mut next = d
        .clone()
        .with_env("STAGE", "two")
        .with_label("stage", "two")
        .with_env("ADDED", "yes");
    next.image = ctx.options.functions.update_image.clone();
    ctx.provider
        .update(next.clone())
        .await
        .or_fail("UPD-1", "update")?;
    let after = ctx.get(&d.service, &ctx.namespace, "UPD-1").await?;
    let diffs = diff_fields(&next, &after, ctx.ns());
    ensure!(
        diffs.is_empty(),
        "UPD-1",
        "get after update differs from the update: {}",
        diffs.join("; ")
    );
    ensure!(
        after.created_at == before.created_at,
        "UPD-1",
        "createdAt changed on update: {} then {}",
        before.created_at,
        after.created_at
    );
    Ok(())
}

/// UPD-2: after update, the function answers with the new configuration.
pub async fn rolls_out(ctx: &Ctx) -> CheckResult {
    let d = ctx.env_function().with_env("CONF_VALUE", "before-update");
    let eps = ctx.deploy_ready(d.clone(), "UPD-2").await?;
    ctx.expect_answer(&eps[0], "/", "", "CONF_VALUE=before-update", "UPD-2")
        .await?;
    let next = d.clone().with_env("CONF_VALUE", "after-update");
    ctx.provider.update(next).await.or_fail("UPD-2", "update")?;
    ctx.eventually_answers(
        &d.service,
        &ctx.namespace,
        "",
        "CONF_VALUE=after-update",
        ctx.options.ready_timeout,
        "UPD-2",
    )
    .await
}

/// UPD-4: update with an invalid field is `InvalidInput` naming it, and changes nothing.
pub async fn invalid_keeps_function(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function().with_label("stage", "one");
    ctx.deploy(d.clone()).await.or_fail("UPD-4", "deploy")?;
    let mut bad = d.clone().with_label("stage", "two");
    bad.image = String::new();
    let e = expect_kind(
        ctx.provider.update(bad).await,
        ErrorKind::InvalidInput,
        "UPD-4",
        "update with an empty image",
    )?;
    ensure!(
        names_field(&e, "image"),
        "UPD-4",
        "update with an empty image: error does not name `image`: {e}"
    );
    let got = ctx.get(&d.service, &ctx.namespace, "UPD-4").await?;
    let diffs = diff_fields(&d, &got, ctx.ns());
    ensure!(
        diffs.is_empty(),
        "UPD-4",
        "the rejected update changed the function: {}",
        diffs.join("; ")
    );
    Ok(())
}
