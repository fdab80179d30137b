//! The whole provider suite against `MemoryProvider` behind the gRPC server
//! (`faas_core::grpc::serve_with_shutdown` on 127.0.0.1:0) and the `RemoteProvider` client:
//! proves the protocol glue keeps semantics, error kinds and fields included.

use std::sync::Arc;
use std::time::Duration;

use faas_conformance::provider::{self, FactoryResult, Options, Target};
use faas_core::grpc::{RemoteConfig, RemoteProvider, serve_with_shutdown};
use faas_core::memory::MemoryProvider;
use tokio::net::TcpListener;

/// A fresh MemoryProvider served over gRPC on a loopback port, and a client for it. The server
/// runs on the caller's runtime and ends with it.
async fn factory() -> FactoryResult {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve_with_shutdown(
        Arc::new(MemoryProvider::new()),
        listener,
        std::future::pending(),
    ));
    let remote = RemoteProvider::connect(RemoteConfig::new(format!("http://{addr}"))).await?;
    Ok(Target::new(Arc::new(remote)))
}

faas_conformance::provider_tests!(factory);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_passes_over_grpc() {
    let report = provider::run(
        factory,
        &Options::default().with_deadlines(Duration::from_secs(10)),
    )
    .await;
    print!("{}", report.table());
    assert!(report.is_success(), "failures:\n{}", report.table());
    let (passed, _, skipped) = report.counts();
    assert_eq!(
        skipped,
        8,
        "only the 8 Unsupported checks skip:\n{}",
        report.table()
    );
    assert_eq!(passed + skipped, provider::all_cases().len());
}
