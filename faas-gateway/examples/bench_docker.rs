//! Benchmark (not a test) of the Docker Swarm provider on the engine running here (issue 6):
//!
//! - (a) deploy → first HTTP 200, and (b) scale 0 → 1 → first 200, each measured two ways:
//!   through the provider library (`deploy`/`scale`, `wait_ready`, then one call on the
//!   resolved `127.0.0.1:<published port>`) and through the real gateway (`POST
//!   /system/functions` or `/system/scale-function`, then `POST /function/<name>`, which waits
//!   on the provider's readiness itself). Median, p90 (nearest rank) and max over the
//!   iterations, where the provider's time goes (API call, readiness, first call), and when the
//!   engine reported the container started (its event log), so Swarm's share is visible.
//!   Both run twice: with the function network idle on the node (no container attached, so
//!   Swarm creates the node's instance of the overlay for every start: the worst case) and in
//!   use (another function keeps running, as on any node that runs functions, or with OpenFaaS
//!   CE, whose gateway container is attached to it).
//! - (c) requests/s under `wrk -t1` keep-alive load at 1 and 32 connections, on the replica's
//!   published port directly and through the gateway, for two paths: `/` (the fixture's echo,
//!   which the classic watchdog forks per request) and `/_/health` (answered by the watchdog
//!   itself: what the gateway hop costs without the fork), with the gateway's and the
//!   function's CPU time per request (`/proc/<pid>/stat`; the function's includes its forked
//!   children).
//!
//! ```sh
//! source scripts/services.sh && start_docker        # a Swarm manager on 127.0.0.1
//! FAAS_TEST_DOCKER=1 cargo run --release -p faas-gateway --example bench_docker -- [iterations=8] [seconds=5]
//! ```
//!
//! Without `FAAS_TEST_DOCKER=1` it prints why it skips and exits 0. It lives in faas-gateway,
//! not in faas-provider-docker's `benches/`, because it drives the real gateway and
//! faas-gateway depends on faas-provider-docker: the other way round would be a dev-dependency
//! cycle. The image is the test fixture, built locally (`test_support::fixture_images`, no
//! registry). Functions are reached only on 127.0.0.1 host-mode published ports.
//!
//! Everything the benchmark creates carries its own label prefix and a unique name part, and
//! is removed at the end, also after a failure or Ctrl-C (then by name through the docker
//! CLI); it creates no secrets. The gateway is this binary re-executed (`--gateway PORT
//! LABEL_PREFIX`: `faas_gateway::serve` over a `DockerProvider`, basic auth on), so its CPU
//! time is its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use faas_core::{DynProvider, FunctionDeployment, Provider, ScaleRequest};
use faas_gateway::auth::Credentials;
use faas_gateway::{AppState, GatewayConfig};
use faas_provider_docker::test_support::{self, Cleanup, FIXTURE};
use faas_provider_docker::{DockerConfig, DockerProvider};
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[path = "common/bench.rs"]
mod bench;
use bench::{cpu_us, free_port, loadavg, parse_latency, wrk_requests};

/// How long any one function may take to answer after a deploy or scale.
const READY: Duration = Duration::from_secs(30);
const USER: &str = "admin";
const PASSWORD: &str = "bench-password";

// ---------------------------------------------------------------------------------------------
// The gateway role

/// `faas_gateway::serve` over a Docker provider whose objects carry `label_prefix`.
fn gateway(port: u16, label_prefix: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let mut docker = DockerConfig::from_lookup(|k| std::env::var(k).ok()).unwrap();
        docker.label_prefix = label_prefix.to_owned();
        let provider: Arc<DynProvider> = Arc::new(DockerProvider::new(docker).await.unwrap());
        let config = GatewayConfig {
            listen: ([127, 0, 0, 1], port).into(),
            basic_auth: true,
            ..GatewayConfig::default()
        };
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let state = AppState::new(config, provider, Some(Credentials::new(USER, PASSWORD)))
            .await
            .unwrap();
        faas_gateway::serve(listener, state, std::future::pending())
            .await
            .unwrap();
    });
}

/// The gateway process; killed on drop.
struct GatewayProcess {
    child: Child,
    port: u16,
}

impl GatewayProcess {
    fn start(label_prefix: &str) -> Self {
        let port = free_port();
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--gateway", &port.to_string(), label_prefix])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let gw = Self { child, port };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the gateway never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        gw
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client that opens a new connection for every call (what a first call costs).
fn fresh_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector)
}

fn basic_auth() -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    format!("Basic {token}")
}

/// One call; `(status, body)`, or what failed.
async fn call(
    client: &HttpClient,
    method: Method,
    url: &str,
    auth: bool,
    body: impl Into<Bytes>,
) -> Result<(u16, Bytes), String> {
    let mut req = Request::builder().method(method).uri(url);
    if auth {
        req = req
            .header(header::AUTHORIZATION, basic_auth())
            .header(header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Full::new(body.into()))
        .map_err(|e| e.to_string())?;
    let attempt = async {
        let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok((status, body.to_bytes()))
    };
    tokio::time::timeout(READY, attempt)
        .await
        .map_err(|_| format!("{url}: no answer within {READY:?}"))?
}

/// Calls `url` until it answers 200 (within [`READY`]); the number of other answers before.
async fn until_ok(client: &HttpClient, url: &str, body: &'static str) -> usize {
    let until = Instant::now() + READY;
    let mut misses = 0;
    loop {
        match call(client, Method::POST, url, false, body).await {
            Ok((200, got)) => {
                assert_eq!(got, body.as_bytes(), "{url} answered 200 with another body");
                return misses;
            }
            other => {
                assert!(
                    Instant::now() < until,
                    "{url} did not answer 200 within {READY:?}: {other:?}"
                );
                misses += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Engine state

/// Ids of the containers of Swarm service `service`, running ones only unless `all`.
fn containers(service: &str, all: bool) -> Vec<String> {
    let filter = format!("label=com.docker.swarm.service.name={service}");
    let mut args = vec!["ps", "-q", "--filter", &filter];
    if all {
        args.push("-a");
    }
    test_support::docker(&args)
        .map(|o| o.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Waits until no container of `service` runs (all of them, with `all`, also stopped ones).
async fn until_no_containers(service: &str, all: bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !containers(service, all).is_empty() {
        assert!(
            Instant::now() < until,
            "containers of {service} still there after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether this node has its own instance of overlay network `network` (Swarm creates it when
/// the first local container attaches and removes it after the last one leaves; inspect shows
/// `Peers` only while it exists).
fn network_on_node(network: &str) -> bool {
    test_support::docker(&["network", "inspect", "--format", "{{json .Peers}}", network])
        .is_ok_and(|o| o.trim() != "null")
}

/// When the first container of `service` started at or after `since`, from the engine's event
/// log (`docker events --since … --until …` replays past events).
fn container_started(service: &str, since: SystemTime) -> Option<SystemTime> {
    let stamp = |t: SystemTime| {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
    };
    let filter = format!("label=com.docker.swarm.service.name={service}");
    let out = test_support::docker(&[
        "events",
        "--since",
        &stamp(since),
        "--until",
        &stamp(SystemTime::now()),
        "--filter",
        "type=container",
        "--filter",
        "event=start",
        "--filter",
        &filter,
        "--format",
        "{{.TimeNano}}",
    ])
    .ok()?;
    let nanos: u64 = out.lines().filter_map(|l| l.trim().parse().ok()).min()?;
    Some(UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// The host pid of the main process of the task `task_id`'s container.
fn task_pid(task_id: &str) -> Option<u32> {
    let container = test_support::docker(&[
        "inspect",
        "--format",
        "{{.Status.ContainerStatus.ContainerID}}",
        task_id,
    ])
    .ok()?;
    test_support::docker(&["inspect", "--format", "{{.State.Pid}}", container.trim()])
        .ok()?
        .trim()
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// Figures

/// Samples of one measured quantity.
#[derive(Debug, Default)]
struct Series(Vec<Duration>);

impl Series {
    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.0.clone();
        v.sort();
        v
    }

    /// The nearest-rank percentile `p` (0–100).
    fn pct(&self, p: usize) -> Duration {
        let v = self.sorted();
        let rank = (v.len() * p).div_ceil(100).max(1);
        v[rank - 1]
    }

    fn median(&self) -> Duration {
        self.pct(50)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(what: &str, s: &Series, target: Option<Duration>) {
    let verdict = match target {
        Some(t) if s.median() <= t && s.pct(90) <= t => format!("  target ≤ {:.0} ms: met", ms(t)),
        Some(t) if s.median() <= t => {
            format!("  target ≤ {:.0} ms: median met, p90 missed", ms(t))
        }
        Some(t) => format!("  target ≤ {:.0} ms: MISSED", ms(t)),
        None => String::new(),
    };
    println!(
        "{what:<44} median {:7.1} ms  p90 {:7.1} ms  max {:7.1} ms  (n={}){verdict}",
        ms(s.median()),
        ms(s.pct(90)),
        ms(s.sorted()[s.0.len() - 1]),
        s.0.len(),
    );
}

/// Where the time goes: API call, until `wait_ready` returned, the first call (provider
/// runs), and when the engine reported the container started.
#[derive(Debug, Default)]
struct Split {
    api: Series,
    ready: Series,
    call: Series,
    total: Series,
    /// From the start to the engine's container `start` event.
    engine: Series,
    /// From that event to the first 200.
    after_start: Series,
}

impl Split {
    /// Records the engine's start event of `service` relative to `wall` (when `start` was).
    fn push_engine(&mut self, service: &str, wall: SystemTime, total: Duration) {
        match container_started(service, wall).and_then(|t| t.duration_since(wall).ok()) {
            Some(at) => {
                self.engine.0.push(at);
                self.after_start.0.push(total.saturating_sub(at));
            }
            None => println!("  note: no container start event found for {service}"),
        }
    }

    fn push(&mut self, start: Instant, api: Instant, ready: Instant, done: Instant) {
        self.api.0.push(api - start);
        self.ready.0.push(ready - api);
        self.call.0.push(done - ready);
        self.total.0.push(done - start);
    }

    fn engine_parts(&self) -> String {
        if self.engine.0.is_empty() {
            return "no engine events".to_owned();
        }
        format!(
            "medians: engine started the container at {:.1} ms, first 200 {:.1} ms after that",
            ms(self.engine.median()),
            ms(self.after_start.median()),
        )
    }

    fn parts(&self) -> String {
        format!(
            "medians: API call {:.1} ms, until ready {:.1} ms, first call {:.1} ms; {}",
            ms(self.api.median()),
            ms(self.ready.median()),
            ms(self.call.median()),
            self.engine_parts(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// (a) and (b)

/// The watchdog variables of every benchmark function: stop at once on SIGTERM (the default
/// keeps answering for `healthcheck_interval`, 30 s, so every stop would wait out Swarm's
/// grace period). Start-up is unaffected; iterations just end sooner.
const FAST_STOP: (&str, &str) = ("healthcheck_interval", "0");

fn echo(name: &str, image: &str) -> FunctionDeployment {
    FunctionDeployment::new(name, image)
        .with_env_process(format!("{FIXTURE} echo"))
        .with_env(FAST_STOP.0, FAST_STOP.1)
}

/// What the start-up phases share.
struct Phase<'a> {
    p: &'a DockerProvider,
    gw: &'a GatewayProcess,
    image: &'a str,
    n: usize,
    /// The function network, when each iteration must start with no instance of it on the
    /// node (the "network idle" scenario).
    idle_network: Option<&'a str>,
}

impl Phase<'_> {
    /// Between iterations: no container of `service` runs and, in the idle scenario, the
    /// node's instance of the function network is gone.
    async fn settle(&self, service: &str) {
        // Swarm may lose a scale-down that races the task's own status update (the manager
        // logs "failed to update task to REMOVE … update out of sequence" and leaves the
        // task running): after 15 s, say so and make it reconcile again.
        let kick = Instant::now() + Duration::from_secs(15);
        while !containers(service, false).is_empty() && Instant::now() < kick {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !containers(service, false).is_empty() {
            println!(
                "  note: {service}: Swarm left a task running after the scale-down; forcing a reconcile"
            );
            let _ = test_support::docker(&["service", "update", "--force", "--detach", service]);
        }
        until_no_containers(service, false).await;
        if let Some(network) = self.idle_network {
            let until = Instant::now() + Duration::from_secs(15);
            while network_on_node(network) {
                if Instant::now() > until {
                    println!(
                        "  note: {network} stays on this node (something else is attached): this iteration starts with it"
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Waits until Swarm's manager records the replica as running, so the next scale-down or
    /// delete does not race that status update (see [`Phase::settle`]; the provider repairs
    /// such a lost scale-down itself, but the iterations should not depend on it).
    async fn until_recorded(&self, name: &str) {
        let until = Instant::now() + READY;
        let running = || {
            test_support::docker(&[
                "service",
                "ps",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.CurrentState}}",
                name,
            ])
            .is_ok_and(|o| o.lines().any(|l| l.starts_with("Running")))
        };
        while !running() {
            assert!(
                Instant::now() < until,
                "Swarm never recorded {name} as running"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// (a) through the provider: `deploy`, `wait_ready`, one call on the endpoint; then delete.
    async fn provider_deploys(&self, id: &str) -> Split {
        let client = fresh_client();
        let mut split = Split::default();
        for i in 0..self.n {
            let name = format!("{id}-pd{i}");
            let (start, wall) = (Instant::now(), SystemTime::now());
            self.p.deploy(echo(&name, self.image)).await.unwrap();
            let api = Instant::now();
            let endpoints = self.p.wait_ready(&name, "", READY).await.unwrap();
            let ready = Instant::now();
            let url = endpoints[0].base_url();
            assert_eq!(until_ok(&client, &url, "ping").await, 0, "{url} not ready");
            split.push(start, api, ready, Instant::now());
            split.push_engine(&name, wall, start.elapsed());
            self.until_recorded(&name).await;
            self.p.delete(&name, "").await.unwrap();
            self.settle(&name).await;
        }
        split
    }

    /// (a) through the gateway: `POST /system/functions`, then `POST /function/<name>` until
    /// 200; then delete.
    async fn gateway_deploys(&self, id: &str) -> Split {
        let (gw, client) = (self.gw, fresh_client());
        let mut split = Split::default();
        for i in 0..self.n {
            let name = format!("{id}-gd{i}");
            let body = serde_json::json!({
                "service": name,
                "image": self.image,
                "envProcess": format!("{FIXTURE} echo"),
                "envVars": { FAST_STOP.0: FAST_STOP.1 },
            })
            .to_string();
            let (start, wall) = (Instant::now(), SystemTime::now());
            let deploy = gw.url("/system/functions");
            let (status, text) = call(&client, Method::POST, &deploy, true, body)
                .await
                .unwrap();
            assert_eq!(status, 202, "deploy: {text:?}");
            let misses = until_ok(&client, &gw.url(&format!("/function/{name}")), "ping").await;
            let total = start.elapsed();
            split.total.0.push(total);
            split.push_engine(&name, wall, total);
            if misses > 0 {
                println!("  note: {name}: {misses} non-200 answer(s) before the first 200");
            }
            self.until_recorded(&name).await;
            let body = serde_json::json!({ "functionName": name }).to_string();
            let (status, text) = call(&client, Method::DELETE, &deploy, true, body)
                .await
                .unwrap();
            assert_eq!(status, 202, "delete: {text:?}");
            self.settle(&name).await;
        }
        split
    }

    /// (b) through the provider, on the deployed `name`: scale to 0 and settle, then
    /// `scale(1)`, `wait_ready`, one call.
    async fn provider_scales(&self, name: &str) -> Split {
        let (p, client) = (self.p, fresh_client());
        let mut split = Split::default();
        for _ in 0..self.n {
            self.until_recorded(name).await;
            p.scale(ScaleRequest::new(name, "", 0)).await.unwrap();
            self.settle(name).await;
            let (start, wall) = (Instant::now(), SystemTime::now());
            p.scale(ScaleRequest::new(name, "", 1)).await.unwrap();
            let api = Instant::now();
            let endpoints = p.wait_ready(name, "", READY).await.unwrap();
            let ready = Instant::now();
            let url = endpoints[0].base_url();
            assert_eq!(until_ok(&client, &url, "ping").await, 0, "{url} not ready");
            split.push(start, api, ready, Instant::now());
            split.push_engine(name, wall, start.elapsed());
        }
        split
    }

    /// (b) through the gateway: `POST /system/scale-function` to 0 and settle, then `POST
    /// /function/<name>` (the gateway scales from zero and waits) until 200.
    async fn gateway_scales(&self, name: &str) -> Split {
        let (gw, client) = (self.gw, fresh_client());
        let mut split = Split::default();
        let url = gw.url(&format!("/function/{name}"));
        // The gateway has the function in its endpoint cache, as a function called before has.
        until_ok(&client, &url, "warm").await;
        for _ in 0..self.n {
            self.until_recorded(name).await;
            let body = serde_json::json!({ "serviceName": name, "replicas": 0 }).to_string();
            let scale = gw.url(&format!("/system/scale-function/{name}"));
            let (status, text) = call(&client, Method::POST, &scale, true, body)
                .await
                .unwrap();
            assert_eq!(status, 202, "scale: {text:?}");
            self.settle(name).await;
            let (start, wall) = (Instant::now(), SystemTime::now());
            let misses = until_ok(&client, &url, "cold").await;
            let total = start.elapsed();
            split.total.0.push(total);
            split.push_engine(name, wall, total);
            if misses > 0 {
                println!("  note: {name}: {misses} non-200 answer(s) before the first 200");
            }
        }
        split
    }

    /// (a) and (b), each through the provider and through the gateway.
    async fn run(&self, id: &str) {
        let deploy_target = Duration::from_millis(1500);
        let scale_target = Duration::from_secs(1);
        let n = self.n;
        self.settle(id).await;

        println!("(a) deploy → first 200, {n} iterations each (a new function every time)");
        let split = self.provider_deploys(id).await;
        report(
            "provider: deploy → first response",
            &split.total,
            Some(deploy_target),
        );
        println!("    {}", split.parts());
        let split = self.gateway_deploys(id).await;
        report(
            "gateway:  deploy → first response",
            &split.total,
            Some(deploy_target),
        );
        println!("    {}", split.engine_parts());

        println!("(b) scale 0 → 1 → first 200, {n} iterations each");
        let name = format!("{id}-s");
        self.p.deploy(echo(&name, self.image)).await.unwrap();
        self.p.wait_ready(&name, "", READY).await.unwrap();
        let split = self.provider_scales(&name).await;
        report(
            "provider: scale 0→1 → first response",
            &split.total,
            Some(scale_target),
        );
        println!("    {}", split.parts());
        let split = self.gateway_scales(&name).await;
        report(
            "gateway:  scale 0→1 → first response",
            &split.total,
            Some(scale_target),
        );
        println!("    {}", split.engine_parts());
        self.p.delete(&name, "").await.unwrap();
        self.settle(&name).await;
    }
}

// ---------------------------------------------------------------------------------------------
// (c)

/// One wrk run's figures.
#[derive(Debug, Clone, Copy)]
struct Load {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: bool,
    /// CPU µs per request of the gateway process (None when called directly).
    gateway_cpu_us: Option<f64>,
    /// CPU µs per request of the function container's main process and its children.
    function_cpu_us: Option<f64>,
}

async fn wrk(url: &str, conns: usize, secs: u64) -> String {
    let out = tokio::process::Command::new("wrk")
        .args(["-t1", "--latency"])
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .arg(url)
        .kill_on_drop(true)
        .output()
        .await
        .expect("wrk is installed (apt-get install -y wrk)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `wrk -t1 -c<conns>` on `url` for `secs` after a 1 s warm-up, charging CPU to the gateway
/// (when `gateway`) and the function process `function`.
async fn load(url: &str, conns: usize, secs: u64, gateway: Option<u32>, function: u32) -> Load {
    let _ = wrk(url, conns, 1).await;
    let before = (
        gateway.and_then(|p| cpu_us(p, false)),
        cpu_us(function, true),
    );
    let text = wrk(url, conns, secs).await;
    let after = (
        gateway.and_then(|p| cpu_us(p, false)),
        cpu_us(function, true),
    );
    let requests = wrk_requests(&text) as f64;
    let rps = text
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
    let error_line = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
    if let Some(line) = error_line {
        eprintln!("warning: {url} at {conns} connections: {}", line.trim());
    }
    let per_request = |b: Option<u64>, a: Option<u64>| match (b, a) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / requests),
        _ => None,
    };
    Load {
        rps,
        p50_us: pct("50%"),
        p99_us: pct("99%"),
        errors: error_line.is_some(),
        gateway_cpu_us: per_request(before.0, after.0),
        function_cpu_us: per_request(before.1, after.1),
    }
}

async fn throughput(gw: &GatewayProcess, p: &DockerProvider, name: &str, secs: u64) {
    let endpoint = p.wait_ready(name, "", READY).await.unwrap().remove(0);
    let function_pid = task_pid(&endpoint.instance).expect("the replica's container pid");
    let gateway_pid = gw.child.id();
    println!(
        "\n(c) requests/s, wrk -t1 keep-alive, {secs} s per run after a 1 s warm-up; direct = the replica's published port {}",
        endpoint.port
    );
    println!(
        "| path | conns | via | req/s | vs direct | p50 ms | p99 ms | gateway CPU µs/req | function CPU µs/req |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|");
    let cpu = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
    for (label, path) in [("/ (echo, fork)", "/"), ("/_/health", "/_/health")] {
        for conns in [1usize, 32] {
            let direct_url = format!("{}{path}", endpoint.base_url());
            let tail = if path == "/" { "" } else { path };
            let gateway_url = gw.url(&format!("/function/{name}{tail}"));
            let direct = load(&direct_url, conns, secs, None, function_pid).await;
            let via = load(&gateway_url, conns, secs, Some(gateway_pid), function_pid).await;
            for (via_name, l) in [("direct", &direct), ("gateway", &via)] {
                println!(
                    "| {label} | {conns} | {via_name} | {:.0}{} | {:.2} | {:.2} | {:.2} | {} | {} |",
                    l.rps,
                    if l.errors { " (errors)" } else { "" },
                    l.rps / direct.rps,
                    l.p50_us / 1000.0,
                    l.p99_us / 1000.0,
                    cpu(l.gateway_cpu_us),
                    cpu(l.function_cpu_us),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Driver

async fn run(p: &DockerProvider, gw: &GatewayProcess, id: &str, image: &str, n: usize, secs: u64) {
    // Swarm creates a node's instance of an overlay network when the first container on the
    // node attaches and removes it when the last one leaves. With no other function running
    // here, every deploy and every scale from zero pays for that; on a node where other
    // functions run (or, with OpenFaaS CE, the gateway container) the network is there.
    let network = p.config().network.clone();
    let mut phase = Phase {
        p,
        gw,
        image,
        n,
        idle_network: Some(&network),
    };
    println!("\n## function network idle: no container on the node is attached to {network}");
    phase.run(&format!("{id}-i")).await;

    println!("\n## function network in use: another function keeps running on the node");
    let resident = format!("{id}-r");
    p.deploy(echo(&resident, image)).await.unwrap();
    p.wait_ready(&resident, "", READY).await.unwrap();
    phase.idle_network = None;
    phase.run(&format!("{id}-u")).await;

    throughput(gw, p, &resident, secs).await;
    p.delete(&resident, "").await.unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--gateway") {
        return gateway(args[2].parse().unwrap(), &args[3]);
    }
    if !test_support::enabled("bench_docker") {
        return;
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    let secs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let image = test_support::fixture_images()
        .expect("the fixture image builds")
        .image;
    let id = test_support::unique("bench");
    let label_prefix = format!("faas.{id}.");
    // Dropped last: removes by name whatever is left, after a panic too.
    let _cleanup = Cleanup(id.clone());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = DockerConfig::from_lookup(|k| std::env::var(k).ok()).unwrap();
        config.label_prefix = label_prefix.clone();
        let p = DockerProvider::new(config).await.unwrap();
        let gw = GatewayProcess::start(&label_prefix);
        println!(
            "# bench_docker: image {image}, {} CPUs, loadavg at start: {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            loadavg()
        );
        tokio::select! {
            () = run(&p, &gw, &id, &image, n, secs) => {}
            _ = tokio::signal::ctrl_c() => println!("\ninterrupted: cleaning up"),
        }
        println!("\nloadavg at end: {}", loadavg());
        drop(gw);
        // Everything this run created carries its label prefix: wait for the engine to drop it.
        let managed = format!("{label_prefix}managed");
        for kind in ["service", "secret", "config"] {
            let filter = format!("label={managed}");
            let names =
                test_support::docker(&[kind, "ls", "-q", "--filter", &filter]).unwrap_or_default();
            let names: Vec<&str> = names.lines().collect();
            if !names.is_empty() {
                let mut rm = vec![kind, "rm"];
                rm.extend(names);
                let _ = test_support::docker(&rm);
            }
        }
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let left = test_support::leftovers_labelled(&managed, &id);
            if left.is_empty() {
                println!("engine clean: nothing labelled {managed} left");
                break;
            }
            if Instant::now() > until {
                println!("warning: still on the engine after 30 s: {left:?}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}
