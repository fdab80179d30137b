//! Async throughput (not a test): accepted calls/s (enqueue until durable) and end-to-end
//! completed calls/s (invoke a trivial function over HTTP on 127.0.0.1, POST the callback to
//! a local receiver, settle), for the embedded queue and — when FAAS_TEST_NATS_URL is set —
//! for JetStream.
//!
//! `cargo bench -p faas-queue --bench throughput` (release). `BENCH_CALLS` sets the number of
//! calls (default 50,000 accepted, 10,000 end-to-end).
#![allow(missing_docs, unreachable_pub, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use faas_queue::{
    AsyncCall, DynQueue, EmbeddedConfig, EmbeddedQueue, HttpInvoker, NatsConfig, NatsQueue, Worker,
    WorkerConfig,
};

const CONCURRENCY: usize = 512;

async fn accept(queue: DynQueue, n: usize, callback: Option<String>) -> f64 {
    let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let q = queue.clone();
        let mut call = AsyncCall::new("echo", "openfaas-fn").with_body(format!("payload {i}"));
        if let Some(cb) = &callback {
            call = call.with_callback_url(cb.clone());
        }
        tasks.spawn(async move {
            let _p = permit;
            q.enqueue(call).await
        });
    }
    let mut ok = 0usize;
    while let Some(r) = tasks.join_next().await {
        if matches!(r, Ok(Ok(()))) {
            ok += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(ok, n, "every enqueue succeeded");
    n as f64 / secs
}

async fn end_to_end(queue: DynQueue, n: usize) -> f64 {
    let (f, r) = (
        common::Functions::start().await,
        common::Receiver::start().await,
    );
    accept(queue.clone(), n, Some(r.url())).await;
    let mut cfg = WorkerConfig::default();
    cfg.concurrency = 128;
    cfg.per_function_concurrency = 128;
    let inv = Arc::new(HttpInvoker::new(&f.url(), Duration::from_secs(10)).unwrap());
    let start = Instant::now();
    let w = Worker::new(queue, inv, cfg).unwrap().spawn();
    r.wait_until(Duration::from_secs(600), "all callbacks", |c| c.len() >= n)
        .await;
    let secs = start.elapsed().as_secs_f64();
    w.shutdown().await;
    n as f64 / secs
}

fn calls(default: usize) -> usize {
    std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let accepted_n = calls(50_000);
    let e2e_n = (accepted_n / 5).max(1000);
    let dir = tempfile::tempdir().unwrap();
    let q: DynQueue = Arc::new(
        EmbeddedQueue::open(EmbeddedConfig::new(dir.path()).with_max_depth(1_000_000))
            .await
            .unwrap(),
    );
    let rate = accept(q, accepted_n, None).await;
    println!(
        "embedded: accepted {accepted_n} calls at {rate:.0}/s (durable, {CONCURRENCY} concurrent enqueuers)"
    );
    let dir = tempfile::tempdir().unwrap();
    let q: DynQueue = Arc::new(
        EmbeddedQueue::open(EmbeddedConfig::new(dir.path()).with_max_depth(1_000_000))
            .await
            .unwrap(),
    );
    let rate = end_to_end(q, e2e_n).await;
    println!(
        "embedded: completed {e2e_n} calls end-to-end at {rate:.0}/s (invoke + callback + ack)"
    );

    match std::env::var("FAAS_TEST_NATS_URL") {
        Ok(url) if !url.is_empty() => {
            let name = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            let q: DynQueue = Arc::new(
                NatsQueue::connect(
                    NatsConfig::new(&url)
                        .with_names(&name)
                        .with_max_depth(1_000_000),
                )
                .await
                .unwrap(),
            );
            let rate = accept(q, accepted_n, None).await;
            println!(
                "nats: accepted {accepted_n} calls at {rate:.0}/s (publish acks awaited in batches)"
            );
            let name = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            let q: DynQueue = Arc::new(
                NatsQueue::connect(
                    NatsConfig::new(&url)
                        .with_names(&name)
                        .with_max_depth(1_000_000),
                )
                .await
                .unwrap(),
            );
            let rate = end_to_end(q, e2e_n).await;
            println!("nats: completed {e2e_n} calls end-to-end at {rate:.0}/s");
        }
        _ => println!("nats: SKIPPED (set FAAS_TEST_NATS_URL)"),
    }
}
