//! Benchmark (not a test): the gateway's overhead on `/function/*`, driven by `wrk` on
//! loopback, in one run: (a) the function called directly, (b) through a bare hyper +
//! hyper-util pass-through proxy (the floor: a pooled client and no logic), (c) through the
//! real gateway ([`faas_gateway::serve`]) with basic auth and metrics on. All three point at
//! the same upstream, a trivial hyper server answering `ok`.
//!
//! ```sh
//! apt-get install -y wrk
//! cargo build --release -p faas-gateway --example bench_gateway
//! target/release/examples/bench_gateway [seconds=5] [rounds=1]
//! ```
//!
//! Each role is this binary re-executed (`--upstream`, `--bare`, `--gateway`), so every
//! process's CPU time (`/proc/<pid>/stat`, utime+stime) is its own. The proxies run on tokio's
//! multi-thread runtime, as the gateway binary does. Each phase runs `wrk -t1 --latency` at 1
//! and at 32 connections; with `rounds` > 1 phases interleave (direct, bare, gateway, direct, …)
//! and the median of each figure is printed at the end. `PIN=1` pins the proxy under test to
//! CPU 1 and the upstream and wrk to CPU 0 (`taskset`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use faas_core::memory::MemoryProvider;
use faas_core::{DynProvider, Endpoint, FunctionDeployment, Provider};
use faas_gateway::auth::Credentials;
use faas_gateway::{AppState, GatewayConfig};
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

#[path = "common/bench.rs"]
mod bench;
use bench::{cpu_us, free_port, loadavg, parse_latency, wrk_requests};

const FUNCTION: &str = "echo";

fn wait_accepting(port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------------------------
// Roles

fn runtime(multi: bool) -> tokio::runtime::Runtime {
    if multi {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()
    .unwrap()
}

/// The trivial function: `ok` to every request.
fn upstream(port: u16) {
    runtime(false).block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// The floor: a hyper server forwarding each request (URI rewritten) through hyper-util's
/// pooled client (30 s idle, 1024 idle per host, as the gateway's client had before it got
/// its own pool), and nothing else.
fn bare(port: u16, upstream: u16) {
    runtime(true).block_on(async move {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1024)
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
                        Err(_) => Response::builder()
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

/// The real gateway: `faas_gateway::serve`, basic auth on, metrics on (always), function
/// `echo` deployed on the reference provider and resolved to the trivial upstream.
fn gateway(port: u16, upstream: u16) {
    runtime(true).block_on(async move {
        let provider = MemoryProvider::new();
        let fixed = Endpoint::new("127.0.0.1", upstream, "bench-0");
        provider.set_endpoints(FUNCTION, "", vec![fixed]).unwrap();
        provider
            .deploy(FunctionDeployment::new(FUNCTION, "bench/echo:latest"))
            .await
            .unwrap();
        let provider: Arc<DynProvider> = Arc::new(provider);
        let config = GatewayConfig {
            listen: ([127, 0, 0, 1], port).into(),
            basic_auth: true,
            ..GatewayConfig::default()
        };
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let state = AppState::new(
            config,
            provider,
            Some(Credentials::new("admin", "bench-password")),
        )
        .await
        .unwrap();
        faas_gateway::serve(listener, state, std::future::pending())
            .await
            .unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// Driver

/// One wrk run's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// CPU µs per request of the proxy process (0 for direct).
    proxy_cpu_us: f64,
    /// CPU µs per request of the upstream.
    upstream_cpu_us: f64,
}

fn spawn(args: &[String], cpu: Option<&str>) -> Child {
    let me = std::env::current_exe().unwrap();
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu).arg(&me);
            c
        }
        None => Command::new(&me),
    };
    cmd.args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs wrk against `url`, charging CPU to `proxy` (if any) and `upstream`.
fn run_wrk(
    url: &str,
    conns: usize,
    secs: u64,
    proxy: Option<u32>,
    upstream: u32,
    pin: bool,
) -> Figures {
    let wrk = |secs: u64| {
        let mut cmd = if pin {
            let mut c = Command::new("taskset");
            c.args(["-c", "0", "wrk"]);
            c
        } else {
            Command::new("wrk")
        };
        let out = cmd
            .args(["-t1", "--latency"])
            .arg(format!("-c{conns}"))
            .arg(format!("-d{secs}s"))
            .arg(url)
            .output()
            .expect("wrk is installed (apt-get install -y wrk)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let cpu = |pid: u32| cpu_us(pid, false).expect("/proc/<pid>/stat of a running role");
    wrk(1); // warm-up: connections, pools, caches
    let before = (proxy.map(cpu), cpu(upstream));
    let text = wrk(secs);
    let after = (proxy.map(cpu), cpu(upstream));
    let requests = wrk_requests(&text) as f64;
    let rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    let pct = |p: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(p))
            .map_or(f64::NAN, parse_latency)
    };
    let errors = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
    if let Some(line) = errors {
        eprintln!("warning: {url}: {}", line.trim());
    }
    Figures {
        rps,
        p50_us: pct("50%"),
        p99_us: pct("99%"),
        proxy_cpu_us: match (before.0, after.0) {
            (Some(b), Some(a)) => (a - b) as f64 / requests,
            _ => 0.0,
        },
        upstream_cpu_us: (after.1 - before.1) as f64 / requests,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn median_figures(all: &[Figures]) -> Figures {
    let m = |f: fn(&Figures) -> f64| median(all.iter().map(f).collect());
    Figures {
        rps: m(|f| f.rps),
        p50_us: m(|f| f.p50_us),
        p99_us: m(|f| f.p99_us),
        proxy_cpu_us: m(|f| f.proxy_cpu_us),
        upstream_cpu_us: m(|f| f.upstream_cpu_us),
    }
}

fn row(name: &str, conns: usize, f: &Figures, direct: &Figures, bare: Option<&Figures>) {
    let per_core = if f.proxy_cpu_us > 0.0 {
        format!("{:>8.0}", 1_000_000.0 / f.proxy_cpu_us)
    } else {
        format!("{:>8}", "-")
    };
    let ratio = match bare {
        Some(b) if f.proxy_cpu_us > 0.0 && b.proxy_cpu_us > 0.0 => {
            format!("{:>5.2}×", f.proxy_cpu_us / b.proxy_cpu_us)
        }
        _ => format!("{:>6}", "-"),
    };
    println!(
        "| {name:<8} | {conns:>3} | {:>8.0} | {per_core} | {:>6.1} | {ratio} | {:>7.1} | {:>7.1} | {:>+7.1} | {:>+7.1} | {:>5.1} |",
        f.rps,
        f.proxy_cpu_us,
        f.p50_us,
        f.p99_us,
        f.p50_us - direct.p50_us,
        f.p99_us - direct.p99_us,
        f.upstream_cpu_us,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args[i].parse::<u16>().unwrap();
    match args.get(1).map(String::as_str) {
        Some("--upstream") => return upstream(arg(2)),
        Some("--bare") => return bare(arg(2), arg(3)),
        Some("--gateway") => return gateway(arg(2), arg(3)),
        _ => {}
    }
    let secs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let pin = std::env::var("PIN").is_ok_and(|v| v == "1");
    let (proxy_cpu, other_cpu) = if pin {
        (Some("1"), Some("0"))
    } else {
        (None, None)
    };

    let (up, bp, gp) = (free_port(), free_port(), free_port());
    let mut children = vec![
        spawn(&["--upstream".into(), up.to_string()], other_cpu),
        spawn(
            &["--bare".into(), bp.to_string(), up.to_string()],
            proxy_cpu,
        ),
        spawn(
            &["--gateway".into(), gp.to_string(), up.to_string()],
            proxy_cpu,
        ),
    ];
    for port in [up, bp, gp] {
        wait_accepting(port);
    }
    // taskset execs the program, so the child's pid is the role's pid.
    let (up_pid, bare_pid, gw_pid) = (children[0].id(), children[1].id(), children[2].id());
    let targets: [(&str, String, Option<u32>); 3] = [
        (
            "direct",
            format!("http://127.0.0.1:{up}/function/{FUNCTION}"),
            None,
        ),
        (
            "bare",
            format!("http://127.0.0.1:{bp}/function/{FUNCTION}"),
            Some(bare_pid),
        ),
        (
            "gateway",
            format!("http://127.0.0.1:{gp}/function/{FUNCTION}"),
            Some(gw_pid),
        ),
    ];
    // The gateway answers through the function (not a 404) before measuring.
    let probe = Command::new("wrk")
        .args(["-t1", "-c1", "-d1s", &targets[2].1])
        .output()
        .unwrap();
    let probe = String::from_utf8_lossy(&probe.stdout);
    assert!(
        !probe.contains("Non-2xx"),
        "the gateway does not answer 2xx:\n{probe}"
    );

    println!(
        "# bench_gateway: {secs} s per phase, {rounds} round(s), pinned: {pin}, loadavg at start: {}",
        loadavg()
    );
    let conns = [1usize, 32];
    // results[conn][target] = figures per round
    let mut results: Vec<Vec<Vec<Figures>>> = vec![vec![Vec::new(); 3]; conns.len()];
    for _ in 0..rounds {
        for (ci, &c) in conns.iter().enumerate() {
            for (ti, (_, url, pid)) in targets.iter().enumerate() {
                let f = run_wrk(url, c, secs, *pid, up_pid, pin);
                results[ci][ti].push(f);
            }
        }
    }
    println!("loadavg at end: {}", loadavg());
    let header = "| via      | conns |   req/s | req/s per proxy core | proxy CPU µs/req | vs bare | p50 µs | p99 µs | p50 added | p99 added | upstream CPU µs/req |";
    println!("{header}");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (ci, &c) in conns.iter().enumerate() {
        let figs: Vec<Figures> = results[ci].iter().map(|r| median_figures(r)).collect();
        for (ti, (name, _, _)) in targets.iter().enumerate() {
            row(name, c, &figs[ti], &figs[0], (ti == 2).then_some(&figs[1]));
        }
    }
    if rounds > 1 {
        println!("\nper round (proxy CPU µs/req, bare → gateway, 1 and 32 connections):");
        let (c1, c32) = (&results[0], &results[1]);
        let rounds_figs = c1[1].iter().zip(&c1[2]).zip(c32[1].iter().zip(&c32[2]));
        for (r, ((b1, g1), (b32, g32))) in rounds_figs.enumerate() {
            println!(
                "  round {}: c1 {:.1} → {:.1}, c32 {:.1} → {:.1}",
                r + 1,
                b1.proxy_cpu_us,
                g1.proxy_cpu_us,
                b32.proxy_cpu_us,
                g32.proxy_cpu_us,
            );
        }
    }
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
