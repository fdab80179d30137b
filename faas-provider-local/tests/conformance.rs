//! The provider conformance suite (`faas-conformance`) against `LocalProvider`, one `#[test]`
//! per check, each on a fresh data directory under cargo's target tmp dir.
#![allow(missing_docs)]

use std::sync::Arc;

use faas_conformance::provider::{FactoryResult, Target};
use faas_provider_local::{LocalConfig, LocalProvider};

async fn factory() -> FactoryResult {
    // Kept for the test process's lifetime: the provider's data lives there.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?.keep();
    let config =
        LocalConfig::new(dir.join("data")).with_stop_timeout(std::time::Duration::from_millis(500));
    Ok(Target::new(Arc::new(LocalProvider::new(config).await?)))
}

faas_conformance::provider_tests!(factory);
