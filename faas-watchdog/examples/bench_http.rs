//! Benchmark (not a test): requests/s and CPU time per request through an http-mode watchdog,
//! against calling the function (`faas-fixture-http`) directly, in one run.
//!
//! ```sh
//! RUSTFLAGS="-C target-feature=+crt-static" cargo run --release --target x86_64-unknown-linux-gnu \
//!     -p faas-watchdog --example bench_http -- [seconds=5] [connections=32]
//! ```
//!
//! The watchdog and the fixture are separate processes (the binaries next to this example's
//! directory, or `WATCHDOG`/`FIXTURE`); their CPU time comes from `/proc/<pid>/stat`
//! (utime+stime). The load generator is this process: keep-alive HTTP/1 connections, each
//! sending GET requests back to back.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/examples/bench_http → target/<profile>/<name>
    exe.parent().unwrap().parent().unwrap().join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// utime + stime of `pid`, in microseconds.
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state(0) ppid(1) ... utime(11) stime(12)
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    ticks * 1_000_000 / hz
}

async fn wait_accepting(port: u16) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "port {port} never opened"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `conns` keep-alive connections against `port` for `secs`; returns completed requests.
async fn load(port: u16, conns: usize, secs: u64, path: &'static str) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let done = done.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut send, conn) =
                hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let uri: http::Uri = format!("http://127.0.0.1:{port}{path}").parse().unwrap();
            while !stop.load(Ordering::Relaxed) {
                let req = Request::get(uri.clone())
                    .header("host", "bench")
                    .body(Empty::new())
                    .unwrap();
                let resp = send.send_request(req).await.unwrap();
                assert!(resp.status().is_success(), "{}", resp.status());
                resp.into_body().collect().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed)
}

struct Phase {
    rps: f64,
    requests: u64,
    cpu: Vec<(String, f64)>,
}

async fn phase(port: u16, conns: usize, secs: u64, pids: &[(&str, u32)]) -> Phase {
    // Warm up (connections, pools, caches).
    load(port, conns, 1, "/bench").await;
    let before: Vec<u64> = pids.iter().map(|(_, p)| cpu_us(*p)).collect();
    let start = Instant::now();
    let requests = load(port, conns, secs, "/bench").await;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = pids
        .iter()
        .zip(before)
        .map(|((name, pid), b)| {
            (
                (*name).to_owned(),
                (cpu_us(*pid) - b) as f64 / requests as f64,
            )
        })
        .collect();
    Phase {
        rps: requests as f64 / elapsed,
        requests,
        cpu,
    }
}

fn report(name: &str, p: &Phase) {
    let cpu: Vec<String> = p
        .cpu
        .iter()
        .map(|(n, us)| format!("{n} {us:.1} µs/req"))
        .collect();
    println!(
        "{name:<18} {:>9.0} req/s  ({} requests)  CPU: {}",
        p.rps,
        p.requests,
        cpu.join(", ")
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let conns: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);
    let watchdog = std::env::var("WATCHDOG")
        .map(PathBuf::from)
        .unwrap_or_else(|_| sibling("faas-watchdog"));
    let fixture = std::env::var("FIXTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| sibling("faas-fixture-http"));

    // Direct: the fixture alone.
    let fport = free_port();
    let mut direct = tokio::process::Command::new(&fixture)
        .env("PORT", fport.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_accepting(fport).await;
    let d = phase(fport, conns, secs, &[("function", direct.id().unwrap())]).await;
    direct.kill().await.unwrap();

    // Through the watchdog (http mode), which starts its own fixture.
    let uport = free_port();
    let wport = free_port();
    let mut wd = tokio::process::Command::new(&watchdog)
        .env("mode", "http")
        .env("fprocess", &fixture)
        .env("upstream_url", format!("http://127.0.0.1:{uport}"))
        .env("PORT", uport.to_string())
        .env("port", wport.to_string())
        .env("bind_address", "127.0.0.1")
        .env("suppress_lock", "true")
        .env("healthcheck_interval", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let wd_pid = wd.id().unwrap();
    wait_accepting(uport).await;
    wait_accepting(wport).await;
    // The fixture started by the watchdog: the process listening on uport answers /pid.
    let fixture_pid: u32 = {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", uport))
            .await
            .unwrap();
        let (mut send, conn) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = Request::get("/pid")
            .header("host", "bench")
            .body(Empty::new())
            .unwrap();
        let body = send
            .send_request(req)
            .await
            .unwrap()
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        String::from_utf8_lossy(&body).parse().unwrap()
    };
    let w = phase(
        wport,
        conns,
        secs,
        &[("watchdog", wd_pid), ("function", fixture_pid)],
    )
    .await;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(wd_pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), wd.wait()).await;

    println!(
        "{conns} connections, {secs} s per phase, load generator in this process (2 cores shared)"
    );
    report("direct", &d);
    report("via watchdog", &w);
}
