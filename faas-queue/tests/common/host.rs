//! The `faas-queue-worker` binary as a child process (queue + enqueue endpoint + worker), so
//! tests can `kill -9` it.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Host {
    pub child: Child,
    pub url: String,
}

/// Starts the binary with `--listen 127.0.0.1:0` plus `args`, and waits for its address.
pub async fn start(gateway: &str, args: &[&str]) -> Host {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faas-queue-worker"))
        .args(["--gateway", gateway, "--listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn faas-queue-worker");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("faas-queue-worker printed its address in time")
        .expect("read stdout")
        .expect("a line");
    let addr = line
        .strip_prefix("listening on ")
        .expect("listening line")
        .trim()
        .to_owned();
    Host {
        child,
        url: format!("http://{addr}"),
    }
}

/// Posts `n` async calls of `function` (64 at a time) and returns the ids answered 202.
pub async fn enqueue_many(
    host_url: &str,
    function: &str,
    callback: &str,
    n: usize,
) -> HashSet<String> {
    let client = reqwest::Client::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("sem");
        let (client, url, cb) = (
            client.clone(),
            format!("{host_url}/async-function/{function}"),
            callback.to_owned(),
        );
        tasks.spawn(async move {
            let _p = permit;
            let resp = client
                .post(url)
                .header("X-Callback-Url", cb)
                .body(format!("call {i}"))
                .send()
                .await
                .ok()?;
            if resp.status() != 202 {
                return None;
            }
            resp.headers()
                .get("x-call-id")?
                .to_str()
                .ok()
                .map(str::to_owned)
        });
    }
    let mut ids = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        if let Ok(Some(id)) = r {
            ids.insert(id);
        }
    }
    ids
}
