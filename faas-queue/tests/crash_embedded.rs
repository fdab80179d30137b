//! 1,000 calls queued in the embedded queue, the process hosting it killed with SIGKILL
//! mid-way and restarted on the same data directory: every accepted call is called back at
//! least once.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Functions, Receiver, host};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_call_survives_kill_9() {
    let (f, r) = (Functions::start().await, Receiver::start().await);
    f.slow_ms.store(20, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().to_str().expect("utf-8 path");
    let args = [
        "--backend",
        "embedded",
        "--data-dir",
        data,
        "--concurrency",
        "16",
        "--per-function-concurrency",
        "16",
        "--lease-secs",
        "2",
    ];
    let mut h = host::start(&f.url(), &args).await;

    // A bad callback URL is refused before anything is stored.
    let resp = reqwest::Client::new()
        .post(format!("{}/async-function/slow", h.url))
        .header("X-Callback-Url", "ftp://127.0.0.1/x")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.expect("body").contains("X-Callback-Url"));

    let accepted = host::enqueue_many(&h.url, "slow", &r.url(), 1000).await;
    assert_eq!(accepted.len(), 1000, "all calls accepted");
    r.wait_until(Duration::from_secs(30), "some deliveries", |c| {
        c.len() >= 150
    })
    .await;
    h.child.start_kill().expect("kill -9");
    h.child.wait().await.expect("reaped");
    let before = r.distinct_ids().len();
    assert!(before < 1000, "killed mid-way ({before} delivered)");

    let mut h2 = host::start(&f.url(), &args).await;
    r.wait_until(Duration::from_secs(60), "every accepted call", |c| {
        let seen: std::collections::HashSet<&str> = c
            .iter()
            .map(|cb| {
                cb.headers
                    .get("x-call-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
            })
            .collect();
        accepted.iter().all(|id| seen.contains(id.as_str()))
    })
    .await;
    eprintln!(
        "delivered before kill: {before}; callbacks in total: {} for {} calls",
        r.count(),
        accepted.len()
    );
    h2.child.start_kill().expect("kill");
    let _ = h2.child.wait().await;
}
