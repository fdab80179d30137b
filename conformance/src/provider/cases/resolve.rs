//! RES: resolve returns only ready endpoints; wait_ready waits, and times out at zero.

use std::time::Duration;

use faas_core::{ErrorKind, ScaleRequest};

use crate::failure::{CheckResult, Failure, OrFail, ensure};
use crate::provider::Ctx;
use crate::provider::cases::deploy::available;
use crate::provider::ctx::{expect_kind, truncate};
use crate::wait::{Probe, eventually};

/// RES-1: every endpoint resolve returns answers HTTP at once (from right after deploy until
/// ready), and the echo function answers a request with its body.
pub async fn only_ready_endpoints(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    ctx.deploy(d.clone()).await.or_fail("RES-1", "deploy")?;
    let r = eventually(ctx.options.ready_timeout, || async {
        let eps = match ctx.provider.resolve(&d.service, &ctx.namespace).await {
            Ok(eps) if eps.is_empty() => {
                return Probe::Pending("resolve returned no endpoint yet".into());
            }
            Ok(eps) => eps,
            Err(e) => {
                return Probe::Done(Err(format!("resolve of an existing function failed: {e}")));
            }
        };
        for ep in &eps {
            let body = format!("ready-{}-{}", d.service, ep.port);
            match ctx.invoke(ep, "POST", "/", body.as_str()).await {
                Ok(r) if r.status == 200 && r.body == body.as_bytes() => {}
                Ok(r) => {
                    return Probe::Done(Err(format!(
                        "resolved endpoint {} answered {} {:?}, expected 200 echoing {body:?}",
                        ep.base_url(),
                        r.status,
                        truncate(&r.text())
                    )));
                }
                Err(e) => return Probe::Done(Err(format!("resolved endpoint is not ready: {e}"))),
            }
        }
        Probe::Done(Ok(()))
    })
    .await;
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::failed("RES-1", e)),
        Err(e) => Err(Failure::failed(
            "RES-1",
            format!("{} never resolved: {e}", d.service),
        )),
    }
}

/// RES-2: wait_ready returns endpoints within its timeout, and each answers.
pub async fn wait_ready_returns_answering_endpoints(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    ctx.deploy(d.clone()).await.or_fail("RES-2", "deploy")?;
    let eps = ctx.wait_ready(&d.service, &ctx.namespace, "RES-2").await?;
    for ep in &eps {
        ctx.expect_answer(ep, "/", "waited", "waited", "RES-2")
            .await?;
    }
    Ok(())
}

/// RES-3: wait_ready on a function scaled to zero is `Timeout` when its timeout passes.
pub async fn wait_ready_times_out_at_zero(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    ctx.deploy_ready(d.clone(), "RES-3").await?;
    ctx.provider
        .scale(ScaleRequest::new(&d.service, &ctx.namespace, 0))
        .await
        .or_fail("RES-3", "scale to 0")?;
    available(ctx, &d.service, &ctx.namespace, 0, "RES-3").await?;
    let started = tokio::time::Instant::now();
    let r = ctx
        .provider
        .wait_ready(&d.service, &ctx.namespace, Duration::from_millis(300))
        .await;
    expect_kind(
        r,
        ErrorKind::Timeout,
        "RES-3",
        "wait_ready(300ms) at zero replicas",
    )?;
    let took = started.elapsed();
    ensure!(
        took >= Duration::from_millis(250),
        "RES-3",
        "wait_ready(300ms) gave up after only {took:?}"
    );
    Ok(())
}
