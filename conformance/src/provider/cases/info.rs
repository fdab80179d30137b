//! INFO: identity and health.

use crate::failure::{CheckResult, OrFail, ensure};
use crate::provider::Ctx;

/// INFO-1: `info()` returns a non-empty provider name, orchestration and default namespace.
pub async fn identity(ctx: &Ctx) -> CheckResult {
    let info = ctx.provider.info().await.or_fail("INFO-1", "info()")?;
    ensure!(
        !info.provider.is_empty(),
        "INFO-1",
        "info().provider is empty"
    );
    ensure!(
        !info.orchestration.is_empty(),
        "INFO-1",
        "info().orchestration is empty"
    );
    ensure!(
        !info.default_namespace.is_empty(),
        "INFO-1",
        "info().default_namespace is empty"
    );
    Ok(())
}

/// INFO-2: `health()` is `Ok` while the backend serves.
pub async fn health(ctx: &Ctx) -> CheckResult {
    ctx.provider.health().await.or_fail("INFO-2", "health()")
}
