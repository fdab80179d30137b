//! The NATS JetStream backend against a real nats-server (FAAS_TEST_NATS_URL, started by
//! scripts/services.sh). Each test uses its own stream and consumer names.

mod common;

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Functions, Receiver, host, suite};
use faas_queue::{AsyncCall, DynQueue, HttpInvoker, NatsConfig, NatsQueue, Worker};

fn nats_url(test: &str) -> Option<String> {
    match std::env::var("FAAS_TEST_NATS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            println!(
                "SKIPPED {test}: set FAAS_TEST_NATS_URL (scripts/services.sh start_nats) to run the NATS tests"
            );
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn queue(url: &str, names: &str) -> DynQueue {
    let cfg = NatsConfig::new(url)
        .with_names(names)
        .with_ack_wait(Duration::from_secs(3));
    Arc::new(NatsQueue::connect(cfg).await.expect("connect to NATS"))
}

#[tokio::test]
async fn callback_received() {
    let Some(url) = nats_url("callback_received") else {
        return;
    };
    suite::callback_received(queue(&url, &unique("t-cb")).await).await;
}

#[tokio::test]
async fn retried_then_called_back_once() {
    let Some(url) = nats_url("retried_then_called_back_once") else {
        return;
    };
    suite::retried_then_called_back_once(queue(&url, &unique("t-retry")).await).await;
}

#[tokio::test]
async fn dead_lettered_then_replayed() {
    let Some(url) = nats_url("dead_lettered_then_replayed") else {
        return;
    };
    suite::dead_lettered_then_replayed(queue(&url, &unique("t-dlq")).await).await;
}

#[tokio::test]
async fn named_queue_is_consumed_only_by_its_worker() {
    let Some(url) = nats_url("named_queue_is_consumed_only_by_its_worker") else {
        return;
    };
    let names = unique("t-named");
    let (f, r) = (Functions::start().await, Receiver::start().await);
    let default_only = queue(&url, &names).await;
    let call = AsyncCall::new("echo", "openfaas-fn")
        .with_queue(Some("billing".into()))
        .with_callback_url(r.url());
    default_only.enqueue(call).await.expect("enqueue");
    let inv = Arc::new(HttpInvoker::new(&f.url(), Duration::from_secs(10)).expect("client"));
    let w1 = Worker::new(default_only.clone(), inv.clone(), common::fast_worker(3))
        .expect("w")
        .spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        r.count(),
        0,
        "the default queue's worker does not take billing calls"
    );
    let billing: DynQueue = Arc::new(
        NatsQueue::connect(
            NatsConfig::new(&url)
                .with_names(&names)
                .with_queues(["billing"]),
        )
        .await
        .expect("connect"),
    );
    let w2 = Worker::new(billing, inv, common::fast_worker(3))
        .expect("w")
        .spawn();
    r.wait_until(Duration::from_secs(20), "the billing callback", |c| {
        !c.is_empty()
    })
    .await;
    w1.shutdown().await;
    w2.shutdown().await;
}

/// 1,000 calls through the worker binary (NATS backend), killed with SIGKILL mid-way and
/// restarted: every accepted call is called back at least once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_call_survives_worker_kill_9() {
    let Some(url) = nats_url("every_accepted_call_survives_worker_kill_9") else {
        return;
    };
    let (f, r) = (Functions::start().await, Receiver::start().await);
    f.slow_ms.store(20, Ordering::SeqCst);
    let names = unique("t-kill");
    let args = [
        "--backend",
        "nats",
        "--nats-url",
        &url,
        "--stream",
        &names,
        "--concurrency",
        "16",
        "--lease-secs",
        "2",
    ];
    let mut h = host::start(&f.url(), &args).await;
    let accepted = host::enqueue_many(&h.url, "slow", &r.url(), 1000).await;
    assert_eq!(accepted.len(), 1000);
    r.wait_until(Duration::from_secs(30), "some deliveries", |c| {
        c.len() >= 150
    })
    .await;
    h.child.start_kill().expect("kill -9");
    h.child.wait().await.expect("reaped");
    let before = r.distinct_ids().len();
    assert!(before < 1000, "killed mid-way ({before} delivered)");
    let mut h2 = host::start(&f.url(), &args).await;
    wait_all(&r, &accepted).await;
    eprintln!(
        "delivered before kill: {before}; callbacks in total: {}",
        r.count()
    );
    h2.child.start_kill().expect("kill");
    let _ = h2.child.wait().await;
}

async fn wait_all(r: &Receiver, accepted: &HashSet<String>) {
    r.wait_until(Duration::from_secs(90), "every accepted call", |c| {
        let seen: HashSet<&str> = c
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
}

fn start_nats_server(port: u16, dir: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nats-server on PATH")
}

async fn wait_port(port: u16) {
    common::eventually(
        Duration::from_secs(20),
        "nats-server to accept",
        || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        },
    )
    .await;
}

/// The nats-server itself is killed mid-way and restarted on the same store: the in-process
/// worker reconnects and every accepted call is called back at least once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_call_survives_nats_restart() {
    if nats_url("every_accepted_call_survives_nats_restart").is_none() {
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let store = tempfile::tempdir().expect("tmp");
    let mut server = start_nats_server(port, store.path());
    wait_port(port).await;
    let url = format!("nats://127.0.0.1:{port}");
    let (f, r) = (Functions::start().await, Receiver::start().await);
    f.slow_ms.store(20, Ordering::SeqCst);
    let q = queue(&url, "t-restart").await;
    let mut accepted = HashSet::new();
    let mut pending = futures::stream::FuturesUnordered::new();
    for i in 0..1000 {
        let call = AsyncCall::new("slow", "openfaas-fn")
            .with_body(format!("{i}"))
            .with_callback_url(r.url());
        let (q, id) = (q.clone(), call.id.to_string());
        pending.push(async move { q.enqueue(call).await.map(|_| id) });
    }
    use futures::StreamExt;
    while let Some(res) = pending.next().await {
        accepted.insert(res.expect("enqueue"));
    }
    let mut cfg = common::fast_worker(10);
    cfg.concurrency = 16;
    let inv = Arc::new(HttpInvoker::new(&f.url(), Duration::from_secs(10)).expect("client"));
    let worker = Worker::new(q.clone(), inv, cfg).expect("worker").spawn();
    r.wait_until(Duration::from_secs(30), "some deliveries", |c| {
        c.len() >= 150
    })
    .await;
    server.start_kill().expect("kill nats-server");
    server.wait().await.expect("reaped");
    let before = r.distinct_ids().len();
    assert!(before < 1000, "restarted mid-way ({before} delivered)");
    let mut server = start_nats_server(port, store.path());
    wait_port(port).await;
    wait_all(&r, &accepted).await;
    eprintln!(
        "delivered before restart: {before}; callbacks in total: {}",
        r.count()
    );
    worker.shutdown().await;
    let _ = server.start_kill();
    let _ = server.wait().await;
}
