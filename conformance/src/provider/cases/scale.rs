//! SCL: scale to N, to zero and back, to the current count, above the limit.

use faas_core::{ErrorKind, ScaleRequest, validate::MAX_REPLICAS};

use crate::failure::{CheckResult, Failure, OrFail, ensure};
use crate::provider::Ctx;
use crate::provider::cases::deploy::{available, names_field};
use crate::provider::ctx::expect_kind;
use crate::wait::{Probe, eventually};

/// SCL-1: scale to N sets replicas at once, N become available, and resolve returns N
/// endpoints that each answer.
pub async fn to_n(ctx: &Ctx) -> CheckResult {
    let n = ctx.caps.replicas_max.unwrap_or(3).min(3);
    let d = ctx.echo_function();
    ctx.deploy_ready(d.clone(), "SCL-1").await?;
    ctx.provider
        .scale(ScaleRequest::new(&d.service, &ctx.namespace, n))
        .await
        .or_fail("SCL-1", "scale")?;
    let got = ctx.get(&d.service, &ctx.namespace, "SCL-1").await?;
    ensure!(
        got.replicas == n,
        "SCL-1",
        "replicas right after scale to {n} is {}",
        got.replicas
    );
    available(ctx, &d.service, &ctx.namespace, n, "SCL-1").await?;
    let eps = eventually(ctx.options.scale_timeout, || async {
        match ctx.provider.resolve(&d.service, &ctx.namespace).await {
            Ok(eps) if eps.len() as u64 == n => Probe::Done(eps),
            Ok(eps) => Probe::Pending(format!("resolve returned {} endpoints", eps.len())),
            Err(e) => Probe::Pending(format!("resolve failed: {e}")),
        }
    })
    .await
    .map_err(|e| Failure::failed("SCL-1", e))?;
    for (i, ep) in eps.iter().enumerate() {
        let body = format!("replica-{i}");
        ctx.expect_answer(ep, "/", &body, &body, "SCL-1").await?;
    }
    Ok(())
}

/// SCL-2: scale to 0 leaves no available replica and resolve answers `Ok([])`; scaling back to
/// 1 makes the function answer again.
pub async fn to_zero_and_back(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    ctx.deploy_ready(d.clone(), "SCL-2").await?;
    ctx.provider
        .scale(ScaleRequest::new(&d.service, &ctx.namespace, 0))
        .await
        .or_fail("SCL-2", "scale to 0")?;
    let got = ctx.get(&d.service, &ctx.namespace, "SCL-2").await?;
    ensure!(
        got.replicas == 0,
        "SCL-2",
        "replicas right after scale to 0 is {}",
        got.replicas
    );
    available(ctx, &d.service, &ctx.namespace, 0, "SCL-2").await?;
    let eps = ctx
        .provider
        .resolve(&d.service, &ctx.namespace)
        .await
        .or_fail("SCL-2", "resolve at zero replicas")?;
    ensure!(
        eps.is_empty(),
        "SCL-2",
        "resolve at zero replicas returned {eps:?}"
    );
    ctx.provider
        .scale(ScaleRequest::new(&d.service, &ctx.namespace, 1))
        .await
        .or_fail("SCL-2", "scale back to 1")?;
    let eps = ctx.wait_ready(&d.service, &ctx.namespace, "SCL-2").await?;
    ctx.expect_answer(&eps[0], "/", "back-from-zero", "back-from-zero", "SCL-2")
        .await?;
    Ok(())
}

/// SCL-3: scale to the current count succeeds and changes nothing.
pub async fn to_current_count(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    let eps = ctx.deploy_ready(d.clone(), "SCL-3").await?;
    let before = ctx.get(&d.service, &ctx.namespace, "SCL-3").await?;
    ctx.provider
        .scale(ScaleRequest::new(
            &d.service,
            &ctx.namespace,
            before.replicas,
        ))
        .await
        .or_fail("SCL-3", "scale to the current count")?;
    let after = ctx.get(&d.service, &ctx.namespace, "SCL-3").await?;
    ensure!(
        after.replicas == before.replicas,
        "SCL-3",
        "replicas went from {} to {}",
        before.replicas,
        after.replicas
    );
    ctx.expect_answer(&eps[0], "/", "unchanged", "unchanged", "SCL-3")
        .await?;
    Ok(())
}

/// SCL-4 / CAP-3: scale above the limit is `InvalidInput` naming `replicas`, and changes
/// nothing.
pub async fn above_limit_rejected(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    ctx.deploy(d.clone()).await.or_fail("SCL-4", "deploy")?;
    let before = ctx.get(&d.service, &ctx.namespace, "SCL-4").await?;
    let mut limits = vec![("SCL-4", MAX_REPLICAS + 1)];
    if let Some(max) = ctx.caps.replicas_max {
        limits.push(("CAP-3", max + 1));
    }
    for (clause, n) in limits {
        let r = ctx
            .provider
            .scale(ScaleRequest::new(&d.service, &ctx.namespace, n))
            .await;
        let e = expect_kind(r, ErrorKind::InvalidInput, clause, &format!("scale to {n}"))?;
        ensure!(
            names_field(&e, "replicas"),
            clause,
            "scale to {n}: error does not name `replicas`: {e}"
        );
    }
    let after = ctx.get(&d.service, &ctx.namespace, "SCL-4").await?;
    ensure!(
        after.replicas == before.replicas,
        "SCL-4",
        "rejected scales changed replicas from {} to {}",
        before.replicas,
        after.replicas
    );
    Ok(())
}
