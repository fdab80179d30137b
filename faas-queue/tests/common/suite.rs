//! Behaviour cases run against every backend (each gets a fresh, empty queue).
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use faas_queue::{AsyncCall, DynQueue, HttpInvoker, Worker};

use super::{Functions, Receiver, eventually, fast_worker};

const WAIT: Duration = Duration::from_secs(20);

fn invoker(f: &Functions) -> Arc<HttpInvoker> {
    Arc::new(HttpInvoker::new(&f.url(), Duration::from_secs(10)).expect("client"))
}

/// Enqueue, then the callback arrives with the function's status, body and headers.
pub async fn callback_received(queue: DynQueue) {
    let (f, r) = (Functions::start().await, Receiver::start().await);
    let worker = Worker::new(queue.clone(), invoker(&f), fast_worker(3))
        .expect("worker")
        .spawn();
    let mut headers = http::HeaderMap::new();
    headers.insert("x-custom", http::HeaderValue::from_static("42"));
    let call = AsyncCall::new("echo", "openfaas-fn")
        .with_path("/sub/path")
        .with_query("a=1&b=2")
        .with_headers(&headers)
        .with_body("hello")
        .with_callback_url(r.url());
    let id = call.id.to_string();
    queue.enqueue(call).await.expect("enqueue");
    r.wait_until(WAIT, "the callback", |c| !c.is_empty()).await;
    let cb = r.all().remove(0);
    assert_eq!(cb.header("x-call-id"), id);
    assert_eq!(cb.header("x-function-status"), "200");
    assert_eq!(cb.header("x-function-name"), "echo");
    assert_eq!(cb.header("x-function-namespace"), "openfaas-fn");
    assert_eq!(cb.header("x-echo"), "yes", "function headers are passed on");
    assert_eq!(
        cb.header("x-custom-seen"),
        "42",
        "request headers reach the function"
    );
    let secs: f64 = cb
        .header("x-duration-seconds")
        .parse()
        .expect("duration is a number");
    assert!((0.0..10.0).contains(&secs));
    let start: u128 = cb
        .header("x-start-time")
        .parse()
        .expect("start time is a number");
    assert!(start > 1_600_000_000_000_000_000, "unix nanoseconds");
    assert_eq!(&cb.body[..], b"echo:POST /sub/path?a=1&b=2 hello");
    eventually(WAIT, "an empty queue", || {
        let q = queue.clone();
        async move { (q.depth().await.ok() == Some(0)).then_some(()) }
    })
    .await;
    worker.shutdown().await;
}

/// A function failing twice (503) then succeeding is retried and called back once, with 200.
pub async fn retried_then_called_back_once(queue: DynQueue) {
    let (f, r) = (Functions::start().await, Receiver::start().await);
    let worker = Worker::new(queue.clone(), invoker(&f), fast_worker(5))
        .expect("worker")
        .spawn();
    let call = AsyncCall::new("flaky", "openfaas-fn").with_callback_url(r.url());
    queue.enqueue(call).await.expect("enqueue");
    r.wait_until(WAIT, "the callback", |c| !c.is_empty()).await;
    eventually(WAIT, "an empty queue", || {
        let q = queue.clone();
        async move { (q.depth().await.ok() == Some(0)).then_some(()) }
    })
    .await;
    worker.shutdown().await;
    let all = r.all();
    assert_eq!(all.len(), 1, "exactly one callback");
    assert_eq!(all[0].header("x-function-status"), "200");
    assert_eq!(&all[0].body[..], b"ok");
    assert_eq!(f.calls_of("flaky"), 3, "two failures and one success");
}

/// A function that always fails ends in the dead-letter store without a callback; replayed
/// after it is fixed, it completes and leaves the store.
pub async fn dead_lettered_then_replayed(queue: DynQueue) {
    let (f, r) = (Functions::start().await, Receiver::start().await);
    let worker = Worker::new(queue.clone(), invoker(&f), fast_worker(3))
        .expect("worker")
        .spawn();
    let call = AsyncCall::new("broken", "openfaas-fn").with_callback_url(r.url());
    let id = call.id.clone();
    queue.enqueue(call).await.expect("enqueue");
    let letters = eventually(WAIT, "a dead letter", || {
        let q = queue.clone();
        async move { q.list_dead_letters(10).await.ok().filter(|l| !l.is_empty()) }
    })
    .await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].call.id, id);
    assert_eq!(letters[0].failure.reason, "retries");
    assert_eq!(letters[0].failure.last_status, Some(503));
    assert_eq!(letters[0].call.attempt, 3);
    assert_eq!(f.calls_of("broken"), 3);
    assert_eq!(r.count(), 0, "no callback for a dead-lettered call");
    assert_eq!(queue.depth().await.expect("depth"), 0);

    f.heal();
    queue.replay_dead_letter(&id).await.expect("replay");
    r.wait_until(WAIT, "the callback after replay", |c| !c.is_empty())
        .await;
    let cb = r.all().remove(0);
    assert_eq!(cb.header("x-call-id"), id.as_str());
    assert_eq!(cb.header("x-function-status"), "200");
    assert_eq!(&cb.body[..], b"healed");
    assert!(queue.list_dead_letters(10).await.expect("list").is_empty());
    let again = queue.replay_dead_letter(&id).await;
    assert!(
        matches!(again, Err(faas_queue::QueueError::NotFound(_))),
        "{again:?}"
    );
    worker.shutdown().await;
}
