//! The whole provider suite against `MemoryProvider`, the in-process reference provider: once
//! through `provider::run` (every check must pass) and once as one `#[test]` per check through
//! `provider_tests!`.

use std::sync::Arc;
use std::time::Duration;

use faas_conformance::provider::{self, FactoryResult, Options, Target};
use faas_conformance::report::Outcome;
use faas_core::memory::MemoryProvider;

async fn factory() -> FactoryResult {
    Ok(Target::new(Arc::new(MemoryProvider::new())))
}

faas_conformance::provider_tests!(factory);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_passes_and_skips_only_unsupported_checks() {
    let report = provider::run(
        factory,
        &Options::default().with_deadlines(Duration::from_secs(10)),
    )
    .await;
    print!("{}", report.table());
    assert!(report.is_success(), "failures:\n{}", report.table());
    assert!(report.suite.contains("faas-memory"), "{}", report.suite);
    // MemoryProvider declares every capability: only the Unsupported checks are skipped.
    for case in &report.cases {
        match &case.outcome {
            Outcome::Skipped(reason) => {
                assert!(
                    case.id.starts_with("unsupported::"),
                    "{} skipped: {reason}",
                    case.id
                )
            }
            Outcome::Passed => assert!(!case.id.starts_with("unsupported::"), "{} passed", case.id),
            Outcome::Failed(r) => panic!("{} failed: {r}", case.id),
        }
    }
    assert_eq!(report.cases.len(), provider::all_cases().len());
}
