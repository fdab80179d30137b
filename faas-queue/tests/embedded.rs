//! The embedded (redb) backend against real HTTP servers on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::suite;
use faas_queue::{AsyncCall, DynQueue, EmbeddedConfig, EmbeddedQueue, Queue, QueueError};

async fn open(dir: &std::path::Path) -> EmbeddedQueue {
    EmbeddedQueue::open(EmbeddedConfig::new(dir))
        .await
        .expect("open")
}

#[tokio::test]
async fn callback_received() {
    let dir = tempfile::tempdir().expect("tmp");
    suite::callback_received(Arc::new(open(dir.path()).await) as DynQueue).await;
}

#[tokio::test]
async fn retried_then_called_back_once() {
    let dir = tempfile::tempdir().expect("tmp");
    suite::retried_then_called_back_once(Arc::new(open(dir.path()).await) as DynQueue).await;
}

#[tokio::test]
async fn dead_lettered_then_replayed() {
    let dir = tempfile::tempdir().expect("tmp");
    suite::dead_lettered_then_replayed(Arc::new(open(dir.path()).await) as DynQueue).await;
}

#[tokio::test]
async fn full_queue_refuses_with_retry_after() {
    let dir = tempfile::tempdir().expect("tmp");
    let q = EmbeddedQueue::open(EmbeddedConfig::new(dir.path()).with_max_depth(3))
        .await
        .expect("open");
    for _ in 0..3 {
        q.enqueue(AsyncCall::new("echo", "openfaas-fn"))
            .await
            .expect("enqueue");
    }
    let err = q
        .enqueue(AsyncCall::new("echo", "openfaas-fn"))
        .await
        .expect_err("full");
    assert!(
        matches!(err, QueueError::Full { depth: 3, max: 3 }),
        "{err}"
    );
    assert_eq!(err.http_status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(err.retry_after().is_some());
    assert_eq!(
        faas_core::Error::from(err).kind(),
        faas_core::ErrorKind::Unavailable
    );
    assert_eq!(q.depth().await.expect("depth"), 3);
}

#[tokio::test]
async fn calls_survive_reopen_and_expired_leases_come_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut ids = Vec::new();
    {
        let q = open(dir.path()).await;
        for i in 0..20 {
            let call = AsyncCall::new("echo", "openfaas-fn").with_body(format!("{i}"));
            ids.push(call.id.clone());
            q.enqueue(call).await.expect("enqueue");
        }
        // Lease some without settling them: a restart must deliver them again.
        let leased = q.fetch(5).await.expect("fetch");
        assert_eq!(leased.len(), 5);
    }
    // The writer thread lets go of the file right after the last handle is dropped.
    let q = common::eventually(Duration::from_secs(5), "the file lock", || {
        let d = dir.path().to_owned();
        async move {
            EmbeddedQueue::open(
                EmbeddedConfig::new(d).with_visibility_timeout(Duration::from_millis(200)),
            )
            .await
            .ok()
        }
    })
    .await;
    assert_eq!(q.depth().await.expect("depth"), 20);
    let mut got = Vec::new();
    while got.len() < 20 {
        got.extend(q.fetch(20).await.expect("fetch"));
    }
    let seen: Vec<_> = got.iter().map(|d| d.call.id.clone()).collect();
    assert_eq!(seen, ids, "FIFO order, nothing lost");
    assert!(got.iter().all(|d| d.call.attempt == 1));
    // Settle all but one; the unsettled lease expires and the call is delivered again.
    let kept = got.pop().expect("one");
    for d in got {
        q.ack(d).await.expect("ack");
    }
    let again = tokio::time::timeout(Duration::from_secs(5), q.fetch(1))
        .await
        .expect("redelivered")
        .expect("fetch");
    assert_eq!(again[0].call.id, kept.call.id);
    q.ack(again.into_iter().next().expect("one"))
        .await
        .expect("ack");
    q.ack(kept).await.expect("stale ack is harmless");
    assert_eq!(q.depth().await.expect("depth"), 0);
}
