//! Benchmark (not a test): async invocations through the real `faas-gateway` binary, over HTTP
//! on loopback, for the embedded queue and (with `FAAS_TEST_NATS_URL` set) NATS JetStream.
//!
//! ```sh
//! apt-get install -y wrk
//! cargo build --release -p faas-gateway --bins --example bench_async
//! target/release/examples/bench_async [seconds=5] [connections=64]
//! # JetStream too: source scripts/services.sh && start_nats && target/release/examples/bench_async
//! ```
//!
//! Per backend, two phases against one fresh queue:
//! 1. **accepted/s**: the gateway runs with `--no-async-worker`; `wrk` POSTs to
//!    `/async-function/echo` (with an `X-Callback-Url`) for `seconds`. Every 202 means the call
//!    is stored (embedded: committed to the redb file; JetStream: publish acknowledged), and the
//!    bench checks it: the queue depth afterwards must equal the number of 202s.
//! 2. **completed/s end to end**: the gateway restarts on the same queue with its worker on and
//!    drains it: each call is invoked through the proxy path (a trivial upstream answering `ok`)
//!    and its result POSTed to a callback receiver in this process, then acknowledged. The rate
//!    is distinct call ids called back divided by the time from the gateway's start to the last.
//!
//! The provider (the reference provider with `echo` resolved to the upstream by
//! `MemoryProvider::set_endpoints`) is served to the gateway over gRPC from this process, as an
//! out-of-process provider would be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use faas_core::memory::MemoryProvider;
use faas_core::{Endpoint, FunctionDeployment, Provider};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

#[path = "common/bench.rs"]
mod bench;
use bench::{free_port, wrk_requests};

const FUNCTION: &str = "echo";

/// Serves `handler` for every request on a fresh 127.0.0.1 port.
async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Counts the distinct call ids called back.
#[derive(Debug, Default)]
struct Receiver {
    ids: Mutex<HashSet<String>>,
    last: Mutex<Option<Instant>>,
}

impl Receiver {
    fn distinct(&self) -> usize {
        self.ids.lock().unwrap().len()
    }
}

fn wait_accepting(port: u16, child: &mut Child) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the gateway exited before listening: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn gateway_binary() -> PathBuf {
    if let Ok(p) = std::env::var("GATEWAY") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    // target/release/examples/bench_async → target/release/faas-gateway
    exe.parent().unwrap().parent().unwrap().join("faas-gateway")
}

#[derive(Debug, Clone)]
enum Backend {
    Embedded,
    Nats { url: String, stream: String },
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Nats { .. } => "NATS JetStream",
        }
    }

    fn args(&self) -> Vec<String> {
        match self {
            Backend::Embedded => vec!["--queue".into(), "embedded".into()],
            Backend::Nats { url, stream } => vec![
                "--queue".into(),
                url.clone(),
                "--nats-stream".into(),
                stream.clone(),
            ],
        }
    }

    async fn cleanup(&self) {
        let Backend::Nats { url, stream } = self else {
            return;
        };
        let Ok(client) = async_nats::connect(url.as_str()).await else {
            return;
        };
        let js = async_nats::jetstream::new(client);
        let names = faas_queue::NatsConfig::new(url.as_str()).with_names(stream);
        let _ = js.delete_stream(&names.stream).await;
        let _ = js.delete_stream(&names.dead_letter_stream).await;
    }
}

struct Gateway {
    child: Child,
    port: u16,
    auth: String,
}

impl Gateway {
    fn start(provider: &str, data: &Path, backend: &Backend, extra: &[&str]) -> Self {
        let port = free_port();
        let mut child = Command::new(gateway_binary())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--provider", provider])
            .arg("--data-dir")
            .arg(data)
            .arg("--secret-mount-path")
            .arg(data.join("no-secrets"))
            .args(["--async-max-depth", "100000000"])
            .args(backend.args())
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the faas-gateway binary (build it with --bins, or set GATEWAY)");
        wait_accepting(port, &mut child);
        let password = std::fs::read_to_string(data.join("gateway/basic-auth-password")).unwrap();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", password.trim()))
        );
        Self { child, port, auth }
    }

    /// `GET /system/async/stats` → depth.
    async fn depth(&self) -> u64 {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let req = Request::get(format!("http://127.0.0.1:{}/system/async/stats", self.port))
            .header("authorization", &self.auth)
            .body(Empty::new())
            .unwrap();
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.status(), 200, "stats answer 200");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["depth"].as_u64().unwrap()
    }

    /// SIGTERM, then waits for the exit (the queue is closed cleanly).
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    /// A bench that panics does not leave the gateway running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs wrk with a POST script; returns (2xx count, other responses and socket errors).
fn wrk_post(url: &str, callback: &str, conns: usize, secs: u64, dir: &Path) -> (u64, u64) {
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = \"{{\\\"n\\\":1}}\"\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n\
             wrk.headers[\"X-Callback-Url\"] = \"{callback}\"\n"
        ),
    )
    .unwrap();
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{conns}"), &format!("-d{secs}s"), "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .expect("wrk is installed (apt-get install -y wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let total = wrk_requests(&text);
    let non_2xx: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
        eprintln!("  wrk: {}", line.trim());
    }
    (total - non_2xx, non_2xx)
}

async fn run(
    backend: Backend,
    provider: &str,
    receiver: &Arc<Receiver>,
    callback: &str,
    secs: u64,
    conns: usize,
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // 1. Accepted/s: enqueue only.
    let g = Gateway::start(provider, &data, &backend, &["--no-async-worker"]);
    let url = format!("http://127.0.0.1:{}/async-function/{FUNCTION}", g.port);
    let (accepted, refused) = wrk_post(&url, callback, conns, secs, dir.path());
    let depth = g.depth().await;
    println!(
        "{}: accepted {accepted} calls in {secs} s = {:.0}/s at {conns} connections ({refused} refused); queue depth after: {depth}",
        backend.name(),
        accepted as f64 / secs as f64,
    );
    // wrk counts only the answers that arrived within its duration; the calls in flight at the
    // end (at most one per connection) are stored too.
    assert!(
        depth >= accepted && depth <= accepted + conns as u64,
        "every 202 is a stored call (depth {depth}, 202s counted {accepted}, connections {conns})"
    );
    let accepted = depth;
    g.stop();

    // 2. End to end: the worker drains what was accepted.
    let started = Instant::now();
    let g = Gateway::start(
        provider,
        &data,
        &backend,
        &[
            "--async-concurrency",
            "128",
            "--async-function-concurrency",
            "0",
        ],
    );
    let deadline = Duration::from_secs(600);
    while receiver.distinct() < accepted as usize {
        assert!(
            started.elapsed() < deadline,
            "only {} of {accepted} called back",
            receiver.distinct()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = receiver.last.lock().unwrap().unwrap_or_else(Instant::now);
    let took = last.duration_since(started).as_secs_f64();
    println!(
        "{}: completed {accepted} calls end to end in {took:.2} s = {:.0}/s (invoke + callback + ack, worker concurrency 128)",
        backend.name(),
        accepted as f64 / took
    );
    g.stop();
    receiver.ids.lock().unwrap().clear();
    backend.cleanup().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let conns: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);

    let upstream =
        serve(|_req| async { Response::new(Full::new(Bytes::from_static(b"ok"))) }).await;
    let receiver = Arc::new(Receiver::default());
    let r = receiver.clone();
    let cb = serve(move |req: Request<Incoming>| {
        let r = r.clone();
        async move {
            let id = req
                .headers()
                .get("x-call-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let _ = req.into_body().collect().await;
            r.ids.lock().unwrap().insert(id);
            *r.last.lock().unwrap() = Some(Instant::now());
            Response::new(Full::new(Bytes::new()))
        }
    })
    .await;
    let callback = format!("http://{cb}/callback");

    let provider = MemoryProvider::new();
    let fixed = Endpoint::new("127.0.0.1", upstream.port(), "bench-0");
    provider.set_endpoints(FUNCTION, "", vec![fixed]).unwrap();
    provider
        .deploy(FunctionDeployment::new(FUNCTION, "bench/echo:latest"))
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider_url = format!("grpc://{}", listener.local_addr().unwrap());
    tokio::spawn(faas_core::grpc::serve_with_shutdown(
        Arc::new(provider),
        listener,
        std::future::pending(),
    ));

    println!(
        "# bench_async: {secs} s accept phase, {conns} connections, loadavg {}",
        bench::loadavg()
    );
    run(
        Backend::Embedded,
        &provider_url,
        &receiver,
        &callback,
        secs,
        conns,
    )
    .await;
    match std::env::var("FAAS_TEST_NATS_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let stream = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            let backend = Backend::Nats {
                url: url.trim().to_owned(),
                stream,
            };
            run(backend, &provider_url, &receiver, &callback, secs, conns).await;
        }
        _ => println!(
            "NATS JetStream: skipped (set FAAS_TEST_NATS_URL, e.g. source scripts/services.sh && start_nats)"
        ),
    }
}
