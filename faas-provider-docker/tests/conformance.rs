//! The provider conformance suite against the Docker provider on a real Swarm (skipped unless
//! `FAAS_TEST_DOCKER=1`), deploying the fixture image: the static `faas-watchdog` running
//! `faas-docker-fixture echo | env | cat <secret>` per request.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use faas_conformance::provider::{self, FactoryResult, Options, Target, TestFunctions};

async fn factory() -> FactoryResult {
    Ok(Target::new(Arc::new(common::provider().await)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes_on_a_real_swarm() {
    if !common::enabled("conformance_suite_passes_on_a_real_swarm") {
        return;
    }
    let (image, update_image) = common::fixture_images();
    let fixture = common::FIXTURE;
    let mut functions = TestFunctions::default();
    functions.image = image;
    functions.update_image = update_image;
    functions.echo = format!("{fixture} echo");
    functions.env = format!("{fixture} env");
    functions.secret_reader = format!("{fixture} cat /var/openfaas/secrets/{{name}}");
    let options = Options::default()
        .with_deadlines(Duration::from_secs(60))
        .with_functions(functions);
    let report = provider::run(factory, &options).await;
    print!("{}", report.table());
    assert!(report.is_success(), "failures:\n{}", report.table());
}
