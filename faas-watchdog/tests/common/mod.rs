//! Helpers shared by the watchdog's integration tests: a watchdog served in-process on
//! 127.0.0.1:0, a log collector, and a small HTTP client.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use faas_watchdog::{
    DefaultLauncher, Error, HealthHandle, LogSink, LogSource, Mode, Watchdog, WatchdogConfig,
};
use http::{HeaderMap, Request, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Collects every log line.
#[derive(Debug, Default)]
pub struct Collect(Mutex<Vec<(LogSource, String)>>);

impl LogSink for Collect {
    fn line(&self, source: LogSource, text: &str) {
        self.0.lock().unwrap().push((source, text.to_owned()));
    }
}

impl Collect {
    pub fn contains(&self, source: LogSource, needle: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|(s, t)| *s == source && t.contains(needle))
    }

    pub fn dump(&self) -> String {
        format!("{:#?}", self.0.lock().unwrap())
    }
}

/// A config for tests: no lock file, no shutdown grace, PATH only.
pub fn config(mode: Mode, fprocess: &str) -> WatchdogConfig {
    WatchdogConfig {
        mode,
        fprocess: fprocess.to_owned(),
        lock_file: None,
        healthcheck_interval: Duration::ZERO,
        write_timeout: Duration::from_secs(5),
        exec_timeout: Duration::from_secs(10),
        function_env: vec![(
            "PATH".to_owned(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned()),
        )],
        ..WatchdogConfig::default()
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub health: HealthHandle,
    pub logs: Arc<Collect>,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<Result<(), Error>>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Triggers shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> Result<(), Error> {
        self.trigger_stop();
        self.task.take().unwrap().await.unwrap()
    }

    pub fn trigger_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.trigger_stop();
    }
}

/// Serves `config` on 127.0.0.1:0 and returns at once (not waiting for readiness).
pub async fn start(config: WatchdogConfig) -> Running {
    let logs = Arc::new(Collect::default());
    let watchdog = Watchdog::new(config, Arc::new(DefaultLauncher), logs.clone());
    let health = watchdog.health();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(watchdog.serve(listener, async {
        let _ = rx.await;
    }));
    Running {
        addr,
        health,
        logs,
        stop: Some(tx),
        task: Some(task),
    }
}

/// Serves and waits (bounded) for readiness.
pub async fn start_ready(config: WatchdogConfig) -> Running {
    let mut running = start(config).await;
    within(Duration::from_secs(10), running.health.wait_for(true)).await;
    running
}

/// Awaits `fut`, failing the test after `limit`.
pub async fn within<F: Future>(limit: Duration, fut: F) -> F::Output {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?}"))
}

pub type ClientBody = BoxBody<Bytes, std::io::Error>;

pub fn client() -> Client<HttpConnector, ClientBody> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub fn full(data: impl Into<Bytes>) -> ClientBody {
    http_body_util::Full::new(data.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends a request and reads the whole reply.
pub async fn send(req: Request<ClientBody>) -> Reply {
    let resp = client().request(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get(url: &str) -> Reply {
    send(Request::get(url).body(full("")).unwrap()).await
}

pub async fn post(url: &str, body: impl Into<Bytes>) -> Reply {
    send(Request::post(url).body(full(body)).unwrap()).await
}

/// A request body generated on the fly: `total` bytes of a repeating pattern, in 64 KiB frames.
pub struct Generated {
    pub remaining: u64,
    pub chunk: Bytes,
}

impl Generated {
    pub fn new(total: u64) -> Self {
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        Self {
            remaining: total,
            chunk: Bytes::from(chunk),
        }
    }

    /// The same bytes, for computing expectations incrementally.
    pub fn for_each(total: u64, mut f: impl FnMut(&[u8])) {
        let g = Self::new(total);
        let mut left = total;
        while left > 0 {
            let n = left.min(g.chunk.len() as u64) as usize;
            f(&g.chunk[..n]);
            left -= n as u64;
        }
    }
}

impl Body for Generated {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(self.chunk.len() as u64) as usize;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }
}

/// A body the test feeds by hand; it stays open until the sender is dropped.
pub fn channel_body() -> (mpsc::Sender<Bytes>, ClientBody) {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    struct Chan(mpsc::Receiver<Bytes>);
    impl Body for Chan {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
        }
    }
    (tx, Chan(rx).boxed())
}

/// Processes (not zombies) whose process group is `pgid`.
pub fn live_group_members(pgid: i32) -> Vec<i32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name: state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            members.push(pid);
        }
    }
    members
}

/// Polls until `probe` holds, failing after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut probe: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut delay = Duration::from_millis(5);
    while !probe() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The peak resident set of this process, in KiB.
pub fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
