//! Benchmark (not a test): requests/s and CPU time per request through an http-mode watchdog,
//! against calling the function (`faas-fixture-http`) directly and through a bare hyper
//! pass-through proxy (the floor), all in one run.
//!
//! ```sh
//! RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu \
//!     -p faas-watchdog --bins --example bench_http
//! target/x86_64-unknown-linux-gnu/release/examples/bench_http [seconds=5] [connections=32] [rounds=1]
//! ```
//!
//! Every process is separate, so CPU attribution is clean: the function (`faas-fixture-http`),
//! the bare proxies (this binary re-executed as `bench_http --bare-proxy {ct|mt} LISTEN UPSTREAM`,
//! a hyper server plus hyper-util's pooled client and nothing else, on a current-thread or a
//! multi-thread runtime) and each watchdog (the binary next to this example's directory, or the
//! `WATCHDOG` list, `:`-separated, to compare builds: e.g. `WATCHDOG=/tmp/old:target/.../faas-watchdog`).
//! CPU time comes from `/proc/<pid>/stat` (utime+stime). The load generator is this process:
//! keep-alive HTTP/1 connections, each sending GET requests back to back. With `rounds` > 1
//! the phases are interleaved (A B C A B C …) so background load on a shared machine hits all
//! of them alike; every round is printed, then the median per phase.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

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
async fn load(port: u16, conns: usize, secs: f64, path: &'static str) -> u64 {
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
            let uri: Uri = format!("http://127.0.0.1:{port}{path}").parse().unwrap();
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
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed)
}

#[derive(Clone)]
struct Phase {
    rps: f64,
    requests: u64,
    /// CPU µs per request of each measured process, in order.
    cpu: Vec<f64>,
}

async fn phase(port: u16, conns: usize, secs: u64, pids: &[u32]) -> Phase {
    // Warm up (connections, pools, caches).
    load(port, conns, 0.5, "/bench").await;
    let before: Vec<u64> = pids.iter().map(|p| cpu_us(*p)).collect();
    let start = Instant::now();
    let requests = load(port, conns, secs as f64, "/bench").await;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = pids
        .iter()
        .zip(before)
        .map(|(pid, b)| (cpu_us(*pid) - b) as f64 / requests as f64)
        .collect();
    Phase {
        rps: requests as f64 / elapsed,
        requests,
        cpu,
    }
}

/// One thing to measure: where to send load and which processes to charge.
struct Target {
    name: String,
    port: u16,
    /// (label, pid): the proxy first (if any), then the function.
    pids: Vec<(String, u32)>,
    _children: Vec<tokio::process::Child>,
}

fn report(name: &str, labels: &[(String, u32)], p: &Phase) {
    let cpu: Vec<String> = labels
        .iter()
        .zip(&p.cpu)
        .map(|((n, _), us)| format!("{n} {us:.1} µs/req"))
        .collect();
    println!(
        "{name:<26} {:>9.0} req/s  ({:>7} requests)  CPU: {}",
        p.rps,
        p.requests,
        cpu.join(", ")
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn quiet(cmd: &mut tokio::process::Command) -> &mut tokio::process::Command {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
}

async fn fixture_pid(port: u16) -> u32 {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
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
}

async fn start_watchdog(watchdog: &PathBuf, fixture: &PathBuf) -> Target {
    let uport = free_port();
    let wport = free_port();
    let wd = quiet(
        tokio::process::Command::new(watchdog)
            .env("mode", "http")
            .env("fprocess", fixture)
            .env("upstream_url", format!("http://127.0.0.1:{uport}"))
            .env("PORT", uport.to_string())
            .env("port", wport.to_string())
            .env("bind_address", "127.0.0.1")
            .env("suppress_lock", "true")
            .env("healthcheck_interval", "0"),
    )
    .spawn()
    .unwrap();
    let wd_pid = wd.id().unwrap();
    wait_accepting(uport).await;
    wait_accepting(wport).await;
    let fpid = fixture_pid(uport).await;
    Target {
        name: format!("watchdog {}", watchdog.display()),
        port: wport,
        pids: vec![("watchdog".into(), wd_pid), ("function".into(), fpid)],
        _children: vec![wd],
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--bare-proxy") {
        bare_proxy(&args[2], args[3].parse().unwrap(), args[4].parse().unwrap());
        return;
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench(args));
}

async fn bench(args: Vec<String>) {
    let secs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let conns: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1);
    let watchdogs: Vec<PathBuf> = std::env::var("WATCHDOG")
        .map(|list| list.split(':').map(PathBuf::from).collect())
        .unwrap_or_else(|_| vec![sibling("faas-watchdog")]);
    let fixture = std::env::var("FIXTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| sibling("faas-fixture-http"));
    let me = std::env::current_exe().unwrap();

    // Direct: one fixture, also the upstream of the bare proxies.
    let fport = free_port();
    let direct = quiet(tokio::process::Command::new(&fixture).env("PORT", fport.to_string()))
        .spawn()
        .unwrap();
    let fpid = direct.id().unwrap();
    wait_accepting(fport).await;
    let mut targets = vec![Target {
        name: "direct".into(),
        port: fport,
        pids: vec![("function".into(), fpid)],
        _children: vec![direct],
    }];
    for flavor in ["ct", "mt"] {
        let port = free_port();
        let child = quiet(tokio::process::Command::new(&me).args([
            "--bare-proxy",
            flavor,
            &port.to_string(),
            &fport.to_string(),
        ]))
        .spawn()
        .unwrap();
        let pid = child.id().unwrap();
        wait_accepting(port).await;
        targets.push(Target {
            name: format!("bare hyper proxy ({flavor})"),
            port,
            pids: vec![("proxy".into(), pid), ("function".into(), fpid)],
            _children: vec![child],
        });
    }
    for wd in &watchdogs {
        targets.push(start_watchdog(wd, &fixture).await);
    }

    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{conns} connections, {secs} s per phase, {rounds} round(s), load generator in this process; loadavg {}",
        load_avg.trim()
    );
    let mut results: Vec<Vec<Phase>> = vec![Vec::new(); targets.len()];
    for round in 0..rounds {
        println!("round {}", round + 1);
        for (t, out) in targets.iter().zip(&mut results) {
            let pids: Vec<u32> = t.pids.iter().map(|(_, p)| *p).collect();
            let p = phase(t.port, conns, secs, &pids).await;
            report(&t.name, &t.pids, &p);
            out.push(p);
        }
    }
    if rounds > 1 {
        println!("median of {rounds} rounds");
        for (t, out) in targets.iter().zip(&results) {
            let n = t.pids.len();
            let med = Phase {
                rps: median(out.iter().map(|p| p.rps).collect()),
                requests: out.iter().map(|p| p.requests).sum(),
                cpu: (0..n)
                    .map(|i| median(out.iter().map(|p| p.cpu[i]).collect()))
                    .collect(),
            };
            report(&t.name, &t.pids, &med);
        }
    }
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("loadavg at the end {}", load_avg.trim());
}

/// The floor: a hyper HTTP/1 server whose service forwards every request unchanged (but for
/// the URI) through hyper-util's pooled client. Runs until killed.
fn bare_proxy(flavor: &str, port: u16, upstream: u16) {
    let rt = match flavor {
        "mt" => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .unwrap();
    rt.block_on(async move {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        let authority: http::uri::Authority = format!("127.0.0.1:{upstream}").parse().unwrap();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (client, authority) = (client.clone(), authority.clone());
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let (client, authority) = (client.clone(), authority.clone());
                async move {
                    let mut parts = req.uri().clone().into_parts();
                    parts.scheme = Some(http::uri::Scheme::HTTP);
                    parts.authority = Some(authority);
                    *req.uri_mut() = Uri::from_parts(parts).unwrap();
                    Ok::<_, Infallible>(match client.request(req).await {
                        Ok(resp) => resp.map(|b| b.boxed()),
                        Err(_) => http::Response::builder()
                            .status(502)
                            .body(
                                Empty::new()
                                    .map_err(|never: Infallible| match never {})
                                    .boxed(),
                            )
                            .unwrap(),
                    })
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
