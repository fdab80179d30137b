//! http mode against the `faas-fixture-http` server, and the binary's SIGTERM handling.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use faas_watchdog::{LogSource, Mode, WatchdogConfig};
use http::{Request, StatusCode};
use http_body_util::BodyExt;

const T: Duration = Duration::from_secs(10);
const FIXTURE: &str = env!("CARGO_BIN_EXE_faas-fixture-http");

fn http_config() -> WatchdogConfig {
    let port = free_port();
    let mut cfg = config(Mode::Http, FIXTURE);
    cfg.upstream_url = Some(format!("http://127.0.0.1:{port}").parse().unwrap());
    cfg.function_env.push(("PORT".to_owned(), port.to_string()));
    cfg
}

#[tokio::test]
async fn proxies_get_and_post_with_query() {
    let w = start_ready(http_config()).await;
    let r = get(&w.url("/hello/world?x=1&y=2")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "GET /hello/world?x=1&y=2");
    assert!(r.headers.contains_key("x-duration-seconds"));

    let req = Request::put(w.url("/echo?q=z"))
        .body(full("payload"))
        .unwrap();
    let r = send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "payload");
    assert_eq!(r.headers["x-method"], "PUT");
    assert_eq!(r.headers["x-uri"], "/echo?q=z");
    // The fixture's stdout goes to the sink line by line.
    eventually(T, "stdout captured", || {
        w.logs.contains(LogSource::Stdout, "fixture listening")
    })
    .await;
    w.stop().await.unwrap();
}

#[tokio::test]
async fn streams_the_response_as_it_is_produced() {
    let w = start_ready(http_config()).await;
    let started = Instant::now();
    let resp = client()
        .request(
            Request::get(w.url("/stream?n=4&ms=300"))
                .body(full(""))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let first_at = started.elapsed();
    assert_eq!(&first[..], b"chunk 0\n");
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"chunk 1\nchunk 2\nchunk 3\n");
    // The first chunk arrived long before the ~900 ms the whole response takes.
    assert!(
        first_at < Duration::from_millis(600),
        "first chunk after {first_at:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(850));
}

#[tokio::test]
async fn timeouts_are_504_and_a_dead_upstream_is_502() {
    let mut cfg = http_config();
    cfg.exec_timeout = Duration::from_secs(5);
    let w = start_ready(cfg).await;
    let started = Instant::now();
    let req = Request::get(w.url("/sleep?ms=3000"))
        .header("X-Timeout", "200ms")
        .body(full(""))
        .unwrap();
    let r = send(req).await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(r.headers["x-openfaas-internal"], "of-watchdog");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A process that never listens: health stays 503 and calls get 502.
    let port = free_port();
    let mut cfg = config(Mode::Http, "sleep 30");
    cfg.upstream_url = Some(format!("http://127.0.0.1:{port}").parse().unwrap());
    let dead = start(cfg).await;
    assert_eq!(
        get(&dead.url("/_/health")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let r = get(&dead.url("/")).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.headers["x-openfaas-internal"], "of-watchdog");
    assert!(!dead.health.is_ready());
}

#[tokio::test]
async fn a_killed_process_turns_unhealthy_and_is_restarted() {
    let mut w = start_ready(http_config()).await;
    let pid: i32 = get(&w.url("/pid")).await.text().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    within(T, w.health.wait_for(false)).await;
    within(T, w.health.wait_for(true)).await;
    let r = get(&w.url("/_/health")).await;
    assert_eq!(r.status, StatusCode::OK);
    let new_pid: i32 = get(&w.url("/pid")).await.text().parse().unwrap();
    assert_ne!(pid, new_pid);
    w.stop().await.unwrap();
    eventually(T, "fixture group gone", || {
        live_group_members(new_pid).is_empty()
    })
    .await;
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_call_then_stops_the_process() {
    let mut w = start_ready(http_config()).await;
    let pid: i32 = get(&w.url("/pid")).await.text().parse().unwrap();
    let resp = client()
        .request(
            Request::get(w.url("/stream?n=3&ms=200"))
                .body(full(""))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"chunk 0\n");
    // The call is in flight: shut down now.
    w.trigger_stop();
    let server = w.task.take().unwrap();
    within(T, w.health.wait_for(false)).await;
    let rest = within(T, body.collect()).await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"chunk 1\nchunk 2\n");
    within(T, server).await.unwrap().unwrap();
    // New connections are refused and the function's process group is gone.
    assert!(tokio::net::TcpStream::connect(w.addr).await.is_err());
    eventually(T, "fixture group gone", || {
        live_group_members(pid).is_empty()
    })
    .await;
}

#[tokio::test]
async fn the_binary_serves_and_exits_0_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faas-watchdog"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("fprocess", "cat")
        .env("port", port.to_string())
        .env("bind_address", "127.0.0.1")
        .env("suppress_lock", "true")
        .env("healthcheck_interval", "0")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = within(T, lines.next_line()).await.unwrap().unwrap();
    assert!(banner.contains("listening on 127.0.0.1"), "{banner}");
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(get(&format!("{url}/_/health")).await.status, StatusCode::OK);
    let r = post(&url, "via the binary").await;
    assert_eq!(r.text(), "via the binary");
    let mut saw_forking = false;
    while let Ok(Some(line)) = within(T, lines.next_line()).await {
        if line.contains("Forking fprocess.") {
            saw_forking = true;
        }
        if line.contains("Wrote 14 Bytes") {
            break;
        }
    }
    assert!(saw_forking);
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = within(T, child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
}
