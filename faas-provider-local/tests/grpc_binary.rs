//! The `faas-provider-local` binary: serves the provider over gRPC; a `RemoteProvider` deploys,
//! invokes and deletes through it; SIGTERM stops it with no function process left behind.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use faas_core::grpc::{RemoteConfig, RemoteProvider};
use faas_core::{FunctionDeployment, Provider};

#[tokio::test]
async fn the_binary_serves_the_provider_over_grpc_and_cleans_up_on_sigterm() {
    let dir = tempdir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faas-provider-local"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .env("FAAS_SECRETS_KEY_FILE", dir.path().join("key/secrets.key"))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let remote = RemoteProvider::connect(RemoteConfig::new(format!("http://127.0.0.1:{port}")))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + READY;
    while remote.health().await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "binary did not come up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let orchestration = remote.info().await.unwrap().orchestration;
    assert!(orchestration.starts_with("process ("), "{orchestration}");
    if nix::unistd::Uid::effective().is_root() {
        assert!(orchestration.contains("mount namespace"), "{orchestration}");
        assert!(
            !orchestration.contains("no mount namespace"),
            "{orchestration}"
        );
    }
    // FAAS_SECRETS_KEY_FILE puts the key outside the data directory.
    remote
        .create_secret(faas_core::Secret::new("s", "", "v"))
        .await
        .unwrap();
    assert!(dir.path().join("key/secrets.key").is_file());
    assert!(!dir.path().join("data/keys").exists());
    let marker = format!("FAAS_TEST_MARKER=grpc-{}", std::process::id());
    let (k, v) = marker.split_once('=').unwrap();
    remote
        .deploy(FunctionDeployment::new("echo", "img").with_env_process("cat"))
        .await
        .unwrap();
    remote.deploy(http_fn("web").with_env(k, v)).await.unwrap();
    let ep = remote
        .wait_ready("echo", "", READY)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        call(&ep, "POST", "/", b"over grpc").await,
        (200, b"over grpc".to_vec())
    );
    remote.wait_ready("web", "", READY).await.unwrap();
    assert!(!pids_with_marker(&marker).is_empty());
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_no_processes(&marker).await;
}
