//! Fork modes (streaming, serializing) against real processes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use faas_watchdog::{LogSource, Mode};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn cat_echoes_the_body_and_logs_the_classic_lines() {
    let w = start_ready(config(Mode::Streaming, "cat")).await;
    let r = post(&w.url("/"), "hello").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "hello");
    assert_eq!(r.headers["content-type"], "application/octet-stream");
    assert!(
        w.logs.contains(LogSource::Watchdog, "Forking fprocess."),
        "{}",
        w.logs.dump()
    );
    // The Wrote line comes from the driver task right after the process ends.
    eventually(T, "Wrote line", || {
        w.logs
            .contains(LogSource::Watchdog, "Wrote 5 Bytes - Duration: ")
    })
    .await;
    w.stop().await.unwrap();
}

#[tokio::test]
async fn wc_counts_and_serializing_mode_buffers() {
    let w = start_ready(config(Mode::Streaming, "wc -c")).await;
    let r = post(&w.url("/"), vec![b'x'; 1000]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text().trim(), "1000");

    let mut cfg = config(Mode::Serializing, "wc -c");
    cfg.content_type = "text/plain".to_owned();
    let s = start_ready(cfg).await;
    let r = post(&s.url("/"), "abc").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text().trim(), "3");
    assert_eq!(r.headers["content-type"], "text/plain");
    assert!(r.headers.contains_key("x-duration-seconds"));
    assert_eq!(
        r.headers["content-length"],
        r.body.len().to_string().as_str()
    );
}

#[tokio::test]
async fn env_sees_the_cgi_variables_and_only_the_function_env() {
    let mut cfg = config(Mode::Streaming, "env");
    cfg.function_env
        .push(("GREETING".to_owned(), "hi there".to_owned()));
    let w = start_ready(cfg).await;
    let req = Request::post(w.url("/some/path?a=1&b=two"))
        .header("X-Custom-Header", "value-1")
        .header("Content-Type", "text/plain")
        .body(full("abc"))
        .unwrap();
    let r = send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    let env = r.text();
    for want in [
        "Http_Method=POST",
        "Http_Path=/some/path",
        "Http_Query=a=1&b=two",
        "Http_X_Custom_Header=value-1",
        "Http_Content_Type=text/plain",
        "Http_Content_Length=3",
        "Http_ContentLength=3",
        &format!("Http_Host={}", w.addr),
        "GREETING=hi there",
    ] {
        assert!(env.lines().any(|l| l == want), "missing {want} in:\n{env}");
    }
    // Nothing of the test process' own environment leaks in beyond function_env.
    assert!(!env.lines().any(|l| l.starts_with("CARGO")), "{env}");

    let r = get(&w.url("/plain")).await;
    assert!(!r.text().contains("Http_Query="), "{}", r.text());
}

#[tokio::test]
async fn non_zero_exit_is_a_500_with_stderr_logged() {
    let w = start_ready(config(Mode::Streaming, "ls /no-such-dir-for-watchdog-test")).await;
    let r = get(&w.url("/")).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    eventually(T, "stderr logged", || {
        w.logs
            .contains(LogSource::Stderr, "no-such-dir-for-watchdog-test")
    })
    .await;

    let missing = start_ready(config(Mode::Streaming, "/no/such/binary")).await;
    assert_eq!(
        get(&missing.url("/")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn exec_timeout_kills_the_process_group_and_answers_504() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("slow.sh");
    let pidfile = dir.path().join("pgid");
    // A child in the background too: the whole group must go.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > {}\nsleep 30 &\nsleep 30\n",
            pidfile.display()
        ),
    )
    .unwrap();
    let mut cfg = config(Mode::Streaming, &format!("sh {}", script.display()));
    cfg.exec_timeout = Duration::from_millis(300);
    let w = start_ready(cfg).await;
    let started = Instant::now();
    let r = get(&w.url("/")).await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let pgid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    eventually(T, "process group gone", || {
        live_group_members(pgid).is_empty()
    })
    .await;
}

async fn stream_50_mib(fprocess: &str) -> String {
    const TOTAL: u64 = 50 * 1024 * 1024;
    let w = start_ready(config(Mode::Streaming, fprocess)).await;
    let before = vm_hwm_kib();
    let req = Request::post(w.url("/"))
        .body(Generated::new(TOTAL).boxed())
        .unwrap();
    let r = within(Duration::from_secs(60), send(req)).await;
    assert_eq!(r.status, StatusCode::OK);
    let grown_mib = (vm_hwm_kib() - before) / 1024;
    // The body is 50 MiB; streaming keeps the peak far below that.
    assert!(grown_mib < 24, "peak memory grew by {grown_mib} MiB");
    r.text()
}

#[tokio::test]
async fn fifty_mib_streams_through_wc_and_sha256sum() {
    const TOTAL: u64 = 50 * 1024 * 1024;
    assert_eq!(stream_50_mib("wc -c").await.trim(), TOTAL.to_string());

    let mut hasher = Sha256::new();
    Generated::for_each(TOTAL, |b| hasher.update(b));
    let want: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = stream_50_mib("sha256sum").await;
    assert_eq!(out.split_whitespace().next(), Some(want.as_str()));
}

#[tokio::test]
async fn max_inflight_answers_429_beyond_the_limit() {
    let mut cfg = config(Mode::Streaming, "cat");
    cfg.max_inflight = 1;
    let w = start_ready(cfg).await;
    // The first call stays in flight while its body is open.
    let (tx, body) = channel_body();
    let first = tokio::spawn(send(Request::post(w.url("/")).body(body).unwrap()));
    tx.send(bytes::Bytes::from_static(b"first")).await.unwrap();
    eventually(T, "first call forked", || {
        w.logs.contains(LogSource::Watchdog, "Forking")
    })
    .await;
    let url = w.url("/");
    let mut second = None;
    // The first call is admitted asynchronously: poll until the limit is visibly reached.
    let start = Instant::now();
    while start.elapsed() < T {
        let r = post(&url, "second").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            second = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(second.is_some(), "never saw 429: {}", w.logs.dump());
    assert_eq!(
        get(&w.url("/_/ready")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    drop(tx);
    let r = within(T, first).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "first");
    eventually(T, "slot freed", || true).await;
    let start = Instant::now();
    loop {
        let r = post(&url, "third").await;
        if r.status == StatusCode::OK {
            assert_eq!(r.text(), "third");
            break;
        }
        assert!(start.elapsed() < T, "slot never freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn health_turns_200_when_ready_and_503_after_shutdown_with_the_lock_file() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join(".lock");
    let mut cfg = config(Mode::Streaming, "cat");
    cfg.lock_file = Some(lock.clone());
    let mut w = start(cfg).await;
    within(T, w.health.wait_for(true)).await;
    assert!(lock.exists());
    let r = get(&w.url("/_/health")).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "OK"));
    let r = post(&w.url("/_/health"), "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    // Removing the lock file makes the watchdog unhealthy, as with the classic watchdog.
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(
        get(&w.url("/_/health")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    std::fs::write(&lock, "").unwrap();
    assert_eq!(get(&w.url("/_/health")).await.status, StatusCode::OK);

    let mut health = w.health.clone();
    w.stop().await.unwrap();
    assert!(!health.is_ready());
    assert!(!health.ready_changed().await);
    assert!(!lock.exists());
}
