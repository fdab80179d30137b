//! The local provider against real processes on 127.0.0.1: every `Provider` method, classic
//! and http mode, isolation, secrets, logs, restart recovery and process cleanup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use faas_core::{
    Endpoint, ErrorKind, FunctionDeployment, FunctionNamespace, FunctionResources, LogRequest,
    Provider, ScaleRequest, Secret,
};
use faas_provider_local::LocalProvider;
use futures::StreamExt;

#[tokio::test]
async fn classic_mode_runs_cat_wc_and_sha256sum() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    let cat = deploy_ready(
        &p,
        FunctionDeployment::new("cat", "local/cat").with_env_process("cat"),
    )
    .await;
    let wc = deploy_ready(
        &p,
        FunctionDeployment::new("wc", "local/wc").with_env("fprocess", "wc -c"),
    )
    .await;
    let sha = deploy_ready(
        &p,
        FunctionDeployment::new("sha", "local/sha").with_env_process("sha256sum"),
    )
    .await;
    assert_eq!(
        call(&cat, "POST", "/", b"hello").await,
        (200, b"hello".to_vec())
    );
    let (status, body) = call(&wc, "POST", "/", b"12345").await;
    assert_eq!((status, String::from_utf8_lossy(&body).trim()), (200, "5"));
    let (_, body) = call(&sha, "POST", "/", b"abc").await;
    assert!(
        String::from_utf8_lossy(&body)
            .starts_with("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    p.shutdown().await;
}

#[tokio::test]
async fn functions_get_a_clean_environment_with_their_env_vars() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    let d = FunctionDeployment::new("env", "local/env")
        .with_env_process("env")
        .with_env("GREETING", "hi there")
        .with_label("team", "a")
        .with_annotation("note", "multi\nline");
    let ep = deploy_ready(&p, d).await;
    let (_, body) = call(&ep, "GET", "/x?y=1", b"").await;
    let env = String::from_utf8(body).unwrap();
    assert!(env.lines().any(|l| l == "GREETING=hi there"), "{env}");
    assert!(env.lines().any(|l| l == "fprocess=env"), "{env}");
    assert!(env.lines().any(|l| l == "Http_Method=GET"), "{env}");
    assert!(
        env.lines()
            .any(|l| l == format!("PATH={}", faas_provider_local::DEFAULT_FUNCTION_PATH)),
        "{env}"
    );
    // Nothing of the host (cargo sets CARGO_* for the test process) leaks in.
    assert!(!env.lines().any(|l| l.starts_with("CARGO")), "{env}");
    let status = p.get("env", "").await.unwrap();
    assert_eq!(status.labels["team"], "a");
    assert_eq!(status.labels["faas_function"], "env");
    assert_eq!(status.annotations["note"], "multi\nline");
    assert_eq!(status.env_vars["GREETING"], "hi there");
    assert_eq!((status.replicas, status.available_replicas), (1, 1));
    assert_eq!(status.namespace, "openfaas-fn");
    p.shutdown().await;
}

#[tokio::test]
async fn deploy_rejects_missing_commands_duplicates_and_unknown_references() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    let err = p
        .deploy(FunctionDeployment::new("bad", "img").with_env_process("no-such-program-here --x"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("envProcess"))
    );
    let err = p
        .deploy(
            FunctionDeployment::new("bad", "img")
                .with_env_process("cat")
                .with_env("exec_timeout", "soon"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("envVars.exec_timeout"))
    );
    let err = p
        .deploy(
            FunctionDeployment::new("bad", "img")
                .with_env_process("cat")
                .with_secret("nope"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = p
        .deploy(
            FunctionDeployment::new("bad", "img")
                .with_env_process("cat")
                .with_namespace("nope"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        p.get("bad", "").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    p.deploy(FunctionDeployment::new("dup", "img").with_env_process("cat"))
        .await
        .unwrap();
    let err = p
        .deploy(FunctionDeployment::new("dup", "img").with_env_process("wc"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(p.get("dup", "").await.unwrap().env_process, "cat");
    assert_eq!(
        p.delete("nope", "").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        p.update(FunctionDeployment::new("nope", "img").with_env_process("cat"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let info = p.info().await.unwrap();
    assert!(info.orchestration.starts_with("process ("), "{info:?}");
    assert!(
        info.capabilities.scale_can_zero
            && info.capabilities.secrets
            && info.capabilities.logs_can_follow
    );
    assert_eq!(info.capabilities.deploy_with_limits, p.limits_enforced());
    p.health().await.unwrap();
    p.shutdown().await;
    assert_eq!(p.health().await.unwrap_err().kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn http_mode_proxies_restarts_a_crashed_process_and_gives_each_replica_a_port() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    let ep = deploy_ready(&p, http_fn("web")).await;
    let (status, body) = call(&ep, "POST", "/echo", b"payload").await;
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (200, "fixture:POST:/echo:payload")
    );
    let pid_before = call_until_ok(&p, "web", "/pid").await;
    // Crash the function process: the watchdog restarts it and the replica answers again.
    let _ = tokio::time::timeout(Duration::from_secs(2), call(&ep, "GET", "/crash", b"")).await;
    let deadline = tokio::time::Instant::now() + READY;
    loop {
        let pid_after = call_until_ok(&p, "web", "/pid").await;
        if pid_after != pid_before {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not restarted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Two replicas, both with the same configured upstream_url, each answer on their own.
    p.scale(ScaleRequest::new("web", "", 2)).await.unwrap();
    let deadline = tokio::time::Instant::now() + READY;
    let eps = loop {
        let eps = p.resolve("web", "").await.unwrap();
        if eps.len() == 2 {
            break eps;
        }
        assert!(tokio::time::Instant::now() < deadline);
        p.wait_ready("web", "", READY).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    for ep in &eps {
        assert_eq!(call(ep, "GET", "/a", b"").await.0, 200);
    }
    let status = p.get("web", "").await.unwrap();
    assert_eq!((status.replicas, status.available_replicas), (2, 2));
    // stdout and stderr of the http-mode process land in the logs.
    let lines: Vec<_> = p
        .logs(LogRequest::new("web", ""))
        .await
        .unwrap()
        .collect()
        .await;
    let texts: Vec<String> = lines.into_iter().map(|l| l.unwrap().text).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("fixture handled POST /echo")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("fixture crashing")),
        "{texts:?}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn scale_to_zero_and_back() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    deploy_ready(
        &p,
        FunctionDeployment::new("z", "img").with_env_process("cat"),
    )
    .await;
    p.scale(ScaleRequest::new("z", "", 0)).await.unwrap();
    assert!(p.resolve("z", "").await.unwrap().is_empty());
    let s = p.get("z", "").await.unwrap();
    assert_eq!((s.replicas, s.available_replicas), (0, 0));
    let err = p
        .wait_ready("z", "", Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    p.scale(ScaleRequest::new("z", "", 1)).await.unwrap();
    let ep = p.wait_ready("z", "", READY).await.unwrap().remove(0);
    assert_eq!(
        call(&ep, "POST", "/", b"back").await,
        (200, b"back".to_vec())
    );
    let err = p
        .scale(ScaleRequest::new("z", "", 10_000))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        p.scale(ScaleRequest::new("nope", "", 1))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    p.shutdown().await;
}

#[tokio::test]
async fn update_is_rolling_and_keeps_creation_time() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    let old = deploy_ready(
        &p,
        FunctionDeployment::new("u", "img:1").with_env_process("cat"),
    )
    .await;
    let created = p.get("u", "").await.unwrap().created_at;
    // A waiter that watches readiness across the update never sees zero ready replicas.
    p.update(FunctionDeployment::new("u", "img:2").with_env_process("wc -c"))
        .await
        .unwrap();
    let eps = p.resolve("u", "").await.unwrap();
    assert_eq!(
        eps.len(),
        1,
        "old replica stopped once the new one was ready"
    );
    assert_ne!(eps[0].instance, old.instance);
    let (_, body) = call(&eps[0], "POST", "/", b"abc").await;
    assert_eq!(String::from_utf8_lossy(&body).trim(), "3");
    let s = p.get("u", "").await.unwrap();
    assert_eq!((s.image.as_str(), s.created_at), ("img:2", created));
    assert!(
        tokio::net::TcpStream::connect(old.authority())
            .await
            .is_err(),
        "old replica still listens"
    );
    p.shutdown().await;
}

/// One call that reports failure instead of panicking (for endpoints that may be retiring).
async fn try_call(ep: &Endpoint) -> Option<(u16, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(ep.authority()).await.ok()?;
        let head = format!(
            "POST /roll HTTP/1.1\r\nHost: {}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
            ep.authority()
        );
        s.write_all(head.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n")?.1.as_bytes().to_vec();
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn update_keeps_ready_replicas_answering_throughout() {
    let dir = tempdir();
    let p = Arc::new(provider(dir.path()).await);
    deploy_ready(&p, http_fn("roll").with_label("rev", "1")).await;
    p.scale(ScaleRequest::new("roll", "", 2)).await.unwrap();
    while p.resolve("roll", "").await.unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let old: Vec<String> = p
        .resolve("roll", "")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.instance)
        .collect();
    // A client that resolves and calls in a loop, all through the update.
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let (p, done) = (p.clone(), done.clone());
        tokio::spawn(async move {
            let (mut answered, mut seen) = (0u32, std::collections::BTreeSet::new());
            let mut i = 0usize;
            while !done.load(Ordering::Acquire) {
                let eps = p.resolve("roll", "").await.unwrap();
                assert!(
                    !eps.is_empty(),
                    "resolve returned no endpoint during the update"
                );
                let ep = &eps[i % eps.len()];
                i += 1;
                match try_call(ep).await {
                    Some((200, body)) => {
                        assert_eq!(body, b"fixture:POST:/roll:hi");
                        answered += 1;
                        seen.insert(ep.instance.clone());
                    }
                    other => {
                        // Only a replica retired since it was resolved may fail to answer.
                        let now = p.resolve("roll", "").await.unwrap();
                        assert!(
                            !now.iter().any(|e| e.instance == ep.instance),
                            "ready replica {} did not answer: {other:?}",
                            ep.instance
                        );
                    }
                }
            }
            (answered, seen)
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    p.update(http_fn("roll").with_label("rev", "2"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    done.store(true, Ordering::Release);
    let (answered, seen) = poller.await.unwrap();
    let new: Vec<String> = p
        .resolve("roll", "")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.instance)
        .collect();
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(new.iter().all(|n| !old.contains(n)), "{old:?} {new:?}");
    assert!(answered > 2, "only {answered} calls answered");
    assert!(
        seen.iter().any(|s| old.contains(s)) && seen.iter().any(|s| new.contains(s)),
        "calls reached old {old:?} and new {new:?} replicas: {seen:?}"
    );
    let s = p.get("roll", "").await.unwrap();
    assert_eq!(
        (s.labels["rev"].as_str(), s.replicas, s.available_replicas),
        ("2", 2, 2)
    );
    p.shutdown().await;
}

#[tokio::test]
async fn update_whose_replicas_never_get_ready_is_rolled_back() {
    let dir = tempdir();
    let cfg = config(dir.path()).with_ready_timeout(Duration::from_millis(1500));
    let p = Arc::new(LocalProvider::new(cfg).await.unwrap());
    let old = deploy_ready(
        &p,
        FunctionDeployment::new("rb", "img:1")
            .with_env_process("cat")
            .with_env("VERSION", "1"),
    )
    .await;
    let marker = format!("FAAS_TEST_MARKER=rollback-{}", std::process::id());
    let (k, v) = marker.split_once('=').unwrap();
    // http mode whose process starts but never listens: the new replica never becomes ready.
    let broken = FunctionDeployment::new("rb", "img:2")
        .with_env_process("sleep 1000")
        .with_env("mode", "http")
        .with_env("VERSION", "2")
        .with_env(k, v);
    let update = {
        let p = p.clone();
        tokio::spawn(async move { p.update(broken).await })
    };
    let deadline = tokio::time::Instant::now() + READY;
    while pids_with_marker(&marker).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "new replica never started"
        );
        // Meanwhile the old replica serves, and get() shows the old spec.
        let eps = p.resolve("rb", "").await.unwrap();
        assert_eq!(eps.len(), 1);
        assert_eq!(p.get("rb", "").await.unwrap().image, "img:1");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = update.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.message().contains("rolled back") && err.message().contains("previous deployment"),
        "{err}"
    );
    // The new replica's processes are gone; the old replica still answers.
    assert_no_processes(&marker).await;
    let eps = p.resolve("rb", "").await.unwrap();
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0].instance, old.instance);
    assert_eq!(
        call(&eps[0], "POST", "/", b"still here").await,
        (200, b"still here".to_vec())
    );
    let s = p.get("rb", "").await.unwrap();
    assert_eq!(
        (
            s.image.as_str(),
            s.env_process.as_str(),
            s.env_vars["VERSION"].as_str()
        ),
        ("img:1", "cat", "1")
    );
    assert_eq!((s.replicas, s.available_replicas), (1, 1));
    // The recorded state was not changed either: a restart brings back the old spec.
    p.shutdown().await;
    drop(p);
    let p = provider(dir.path()).await;
    let s = p.get("rb", "").await.unwrap();
    assert_eq!(
        (s.image.as_str(), s.env_vars["VERSION"].as_str()),
        ("img:1", "1")
    );
    let ep = p.wait_ready("rb", "", READY).await.unwrap().remove(0);
    assert_eq!(
        call(&ep, "POST", "/", b"restored").await,
        (200, b"restored".to_vec())
    );
    p.shutdown().await;
}

#[tokio::test]
async fn namespaces_keep_functions_and_secrets_apart() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    assert_eq!(
        p.list_namespaces().await.unwrap(),
        vec!["openfaas-fn".to_owned()]
    );
    let mut ns = FunctionNamespace::new("team-a");
    ns.labels.insert("owner".into(), "a".into());
    p.create_namespace(ns.clone()).await.unwrap();
    assert_eq!(
        p.create_namespace(ns.clone()).await.unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    ns.labels.insert("owner".into(), "b".into());
    p.update_namespace(ns.clone()).await.unwrap();
    assert_eq!(
        p.get_namespace("team-a").await.unwrap().labels["owner"],
        "b"
    );
    p.deploy(FunctionDeployment::new("same", "img").with_env_process("cat"))
        .await
        .unwrap();
    p.deploy(
        FunctionDeployment::new("same", "img")
            .with_env_process("wc -c")
            .with_namespace("team-a"),
    )
    .await
    .unwrap();
    let a = p
        .wait_ready("same", "team-a", READY)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        String::from_utf8_lossy(&call(&a, "POST", "/", b"xy").await.1).trim(),
        "2"
    );
    assert_eq!(p.list("team-a").await.unwrap().len(), 1);
    assert_eq!(p.list("").await.unwrap()[0].env_process, "cat");
    p.create_secret(Secret::new("s1", "team-a", "v"))
        .await
        .unwrap();
    assert!(p.list_secrets("").await.unwrap().is_empty());
    assert_eq!(
        p.delete_namespace("team-a").await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        p.delete_namespace("openfaas-fn").await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    p.delete("same", "team-a").await.unwrap();
    assert_eq!(
        p.get("same", "team-a").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(p.get("same", "").await.is_ok());
    p.delete_secret("s1", "team-a").await.unwrap();
    p.delete_namespace("team-a").await.unwrap();
    assert_eq!(
        p.get_namespace("team-a").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        p.list("team-a").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    p.shutdown().await;
}

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| {
            let path = e.path();
            if path.is_dir() {
                files_contain(&path, needle)
            } else {
                std::fs::read(&path)
                    .map(|b| b.windows(needle.len()).any(|w| w == needle))
                    .unwrap_or(false)
            }
        })
}

#[tokio::test]
async fn secrets_are_mounted_for_functions_and_encrypted_at_rest() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    assert!(
        p.isolated(),
        "these machines run the tests as root: the isolated path is expected"
    );
    let value = "s3cr3t-value-that-must-not-be-on-disk";
    p.create_secret(Secret::new("api-key", "", value))
        .await
        .unwrap();
    assert_eq!(
        p.create_secret(Secret::new("api-key", "", "x"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(p.list_secrets("").await.unwrap()[0].name, "api-key");
    let web = deploy_ready(&p, http_fn("web").with_secret("api-key")).await;
    assert_eq!(
        String::from_utf8(call(&web, "GET", "/secret/api-key", b"").await.1).unwrap(),
        value
    );
    let cat = script(
        dir.path(),
        "readsecret.sh",
        "cat /var/openfaas/secrets/api-key; echo; touch /tmp/mine; ls /tmp",
    );
    let ep = deploy_ready(
        &p,
        FunctionDeployment::new("reader", "img")
            .with_env_process(cat.to_str().unwrap())
            .with_secret("api-key"),
    )
    .await;
    let out = String::from_utf8(call(&ep, "POST", "/", b"").await.1).unwrap();
    assert!(out.starts_with(value), "{out}");
    // A private /tmp: the function's file is not in the host's /tmp.
    assert!(out.contains("mine"), "{out}");
    assert!(!std::path::Path::new("/tmp/mine").exists());
    // Nowhere in the data directory does the plaintext appear.
    assert!(!files_contain(dir.path(), value.as_bytes()));
    // An update of the secret reaches new replicas.
    p.update_secret(Secret::new("api-key", "", "second"))
        .await
        .unwrap();
    p.update(http_fn("web").with_secret("api-key").with_label("rev", "2"))
        .await
        .unwrap();
    let web = p.wait_ready("web", "", READY).await.unwrap().remove(0);
    assert_eq!(
        String::from_utf8(call(&web, "GET", "/secret/api-key", b"").await.1).unwrap(),
        "second"
    );
    assert_eq!(
        p.update_secret(Secret::new("nope", "", "x"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    p.delete_secret("api-key", "").await.unwrap();
    assert_eq!(
        p.delete_secret("api-key", "").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    p.shutdown().await;
}

/// Whether this process may drive cgroups: a writable unified hierarchy with the memory and
/// cpu controllers, or writable memory and cpu v1 hierarchies.
fn cgroups_writable() -> bool {
    use nix::unistd::{AccessFlags, access};
    let writable = |p: &str| access(p, AccessFlags::W_OK).is_ok();
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").is_ok_and(|c| {
        let has = |x: &str| c.split_whitespace().any(|w| w == x);
        has("memory") && has("cpu")
    }) && writable("/sys/fs/cgroup");
    let v1 = writable("/sys/fs/cgroup/memory/cgroup.procs")
        && writable("/sys/fs/cgroup/cpu/cgroup.procs");
    v2 || v1
}

/// Skips (printing why) only where cgroups cannot be expected: not root, or no writable
/// cgroup filesystem. As root with writable cgroups, limits that are not enforced fail.
fn cgroups_expected(p: &LocalProvider, test: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if p.limits_enforced() {
        return true;
    }
    assert!(
        !(root && cgroups_writable()),
        "running as root with writable cgroups, yet the provider enforces no limits ({})",
        p.orchestration()
    );
    eprintln!(
        "SKIP {test}: {}",
        if root {
            "no writable cgroup filesystem here"
        } else {
            "not root, no cgroups to drive"
        }
    );
    false
}

#[tokio::test]
async fn limits_are_enforced_through_the_replica_cgroup() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    if !cgroups_expected(&p, "limits_are_enforced_through_the_replica_cgroup") {
        return;
    }
    assert!(p.info().await.unwrap().capabilities.deploy_with_limits);
    let mut d = FunctionDeployment::new("lim", "img").with_env_process("cat /proc/self/cgroup");
    d.limits = Some(FunctionResources {
        memory: "64Mi".into(),
        cpu: "250m".into(),
        ..Default::default()
    });
    let ep = deploy_ready(&p, d).await;
    let out = String::from_utf8(call(&ep, "POST", "/", b"").await.1).unwrap();
    // `<id>:<controllers>:<path>` of the line for `controller` (v1), or of `0::` (v2).
    let path_of = |controller: Option<&str>| -> String {
        out.lines()
            .find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (id, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
                let wanted = match controller {
                    Some(c) => ctrls.split(',').any(|x| x == c),
                    None => id == "0" && ctrls.is_empty(),
                };
                wanted.then(|| path.to_owned())
            })
            .unwrap_or_else(|| panic!("no cgroup line for {controller:?} in {out}"))
    };
    let read = |file: String| {
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .trim()
            .to_owned()
    };
    let layout = p.orchestration();
    if layout.contains("cgroup v2") {
        let path = path_of(None);
        assert!(path.contains("/faas-local-"), "{out}");
        assert_eq!(
            read(format!("/sys/fs/cgroup{path}/memory.max")),
            (64 * 1024 * 1024).to_string()
        );
        // 250 millicores: a quarter of each 100 ms period.
        assert_eq!(
            read(format!("/sys/fs/cgroup{path}/cpu.max")),
            "25000 100000"
        );
    } else {
        assert!(layout.contains("cgroup v1"), "{layout}");
        let mem = path_of(Some("memory"));
        let cpu = path_of(Some("cpu"));
        assert!(
            mem.contains("/faas-local-") && cpu.contains("/faas-local-"),
            "{out}"
        );
        assert_eq!(
            read(format!("/sys/fs/cgroup/memory{mem}/memory.limit_in_bytes")),
            (64 * 1024 * 1024).to_string()
        );
        assert_eq!(
            read(format!("/sys/fs/cgroup/cpu{cpu}/cpu.cfs_period_us")),
            "100000"
        );
        assert_eq!(
            read(format!("/sys/fs/cgroup/cpu{cpu}/cpu.cfs_quota_us")),
            "25000"
        );
    }
    p.shutdown().await;
}

#[tokio::test]
async fn delete_kills_a_grandchild_that_started_its_own_session() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    if !cgroups_expected(&p, "delete_kills_a_grandchild_that_started_its_own_session") {
        return;
    }
    let marker = format!("FAAS_TEST_MARKER=setsid-{}", std::process::id());
    let (k, v) = marker.split_once('=').unwrap();
    // The grandchild leaves the function's process group and session: only the replica's
    // cgroup still holds it. The call waits until it has (the watchdog kills the call's
    // process group when the call ends, which would otherwise race with the escape).
    let s = script(
        dir.path(),
        "escape.sh",
        "setsid sh -c 'echo $$ > \"${TMPDIR:-/tmp}/escaped.pid\"; exec sleep 1000' \
         </dev/null >/dev/null 2>&1 &\n\
         while [ ! -s \"${TMPDIR:-/tmp}/escaped.pid\" ]; do sleep 0.01; done; echo spawned",
    );
    let ep = deploy_ready(
        &p,
        FunctionDeployment::new("escape", "img")
            .with_env_process(s.to_str().unwrap())
            .with_env(k, v),
    )
    .await;
    let (status, body) = call(&ep, "POST", "/", b"").await;
    assert_eq!(
        (status, String::from_utf8_lossy(&body).trim()),
        (200, "spawned")
    );
    let deadline = tokio::time::Instant::now() + READY;
    let escaped = loop {
        // The one left once the script has exited: `sleep`, leader of its own session.
        let pids: Vec<i32> = pids_with_marker(&marker)
            .into_iter()
            .filter(|pid| {
                let pid = nix::unistd::Pid::from_raw(*pid);
                nix::unistd::getsid(Some(pid)).is_ok_and(|sid| sid == pid)
            })
            .collect();
        if let [pid] = pids[..] {
            break pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no grandchild in its own session: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // It outlives the call that started it...
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(pids_with_marker(&marker).contains(&escaped));
    // ...but not the function.
    p.delete("escape", "").await.unwrap();
    assert_no_processes(&marker).await;
    p.shutdown().await;
}

#[tokio::test]
async fn info_says_whether_replicas_run_isolated_or_in_the_fallback() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    let info = p.info().await.unwrap();
    assert_eq!(info.orchestration, p.orchestration());
    if nix::unistd::Uid::effective().is_root() {
        // Root on these machines: mount namespaces, and cgroups where they are writable.
        assert!(p.isolated());
        let expected = if p.limits_enforced() {
            "process (isolated: mount namespace, cgroup v"
        } else {
            "process (partly isolated: mount namespace, no cgroup limits)"
        };
        assert!(
            info.orchestration.starts_with(expected),
            "{}",
            info.orchestration
        );
        assert_eq!(p.limits_enforced(), cgroups_writable());
    }
    p.shutdown().await;

    // Isolation turned off: the documented fallback, and info() says so.
    let dir = tempdir();
    let fallback = LocalProvider::new(config(dir.path()).with_isolation(false))
        .await
        .unwrap();
    let info = fallback.info().await.unwrap();
    assert_eq!(
        info.orchestration,
        "process (fallback: no mount namespace, no cgroup limits)"
    );
    assert!(!info.capabilities.deploy_with_limits);
    assert!(!fallback.isolated() && !fallback.limits_enforced());
    // The fallback still hands secrets over, in the directory `secret_mount_path` names.
    fallback
        .create_secret(Secret::new("tok", "", "fallback-value"))
        .await
        .unwrap();
    let s = script(dir.path(), "fb.sh", "cat \"$secret_mount_path/tok\"");
    let ep = deploy_ready(
        &fallback,
        FunctionDeployment::new("fb", "img")
            .with_env_process(s.to_str().unwrap())
            .with_secret("tok"),
    )
    .await;
    assert_eq!(
        call(&ep, "POST", "/", b"").await,
        (200, b"fallback-value".to_vec())
    );
    fallback.shutdown().await;
}

#[tokio::test]
async fn logs_keep_stderr_follow_tail_and_a_100k_line() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    let s = script(
        dir.path(),
        "noisy.sh",
        "echo start >&2; head -c 100000 /dev/zero | tr '\\0' x >&2; echo >&2; echo end >&2; cat",
    );
    let ep = deploy_ready(
        &p,
        FunctionDeployment::new("noisy", "img").with_env_process(s.to_str().unwrap()),
    )
    .await;
    let mut follow = p
        .logs(LogRequest::new("noisy", "").with_tail(0).with_follow(true))
        .await
        .unwrap();
    assert_eq!(
        call(&ep, "POST", "/", b"still works").await,
        (200, b"still works".to_vec())
    );
    let mut seen = Vec::new();
    while !seen.iter().any(|t: &String| t == "end") {
        let e = tokio::time::timeout(READY, follow.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.name.as_str(), e.namespace.as_str()),
            ("noisy", "openfaas-fn")
        );
        seen.push(e.text);
    }
    assert!(
        seen.iter()
            .any(|t| t.len() == 100_000 && t.bytes().all(|b| b == b'x')),
        "no whole 100k line"
    );
    // The function and the stream both keep working after it.
    assert_eq!(
        call(&ep, "POST", "/", b"again").await,
        (200, b"again".to_vec())
    );
    let e = tokio::time::timeout(READY, follow.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!e.text.is_empty());
    let tail: Vec<_> = p
        .logs(LogRequest::new("noisy", "").with_tail(1))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(tail.len(), 1);
    let future = chrono::Utc::now() + chrono::Duration::hours(1);
    let none: Vec<_> = p
        .logs(LogRequest::new("noisy", "").with_since(future))
        .await
        .unwrap()
        .collect()
        .await;
    assert!(none.is_empty());
    assert_eq!(
        p.logs(LogRequest::new("nope", ""))
            .await
            .err()
            .unwrap()
            .kind(),
        ErrorKind::NotFound
    );
    // Deleting the function ends a following stream.
    p.delete("noisy", "").await.unwrap();
    let end = tokio::time::timeout(READY, async { while follow.next().await.is_some() {} }).await;
    assert!(end.is_ok(), "follow stream did not end on delete");
    p.shutdown().await;
}

#[tokio::test]
async fn restart_restores_functions_replicas_and_secrets_from_the_data_dir() {
    let dir = tempdir();
    let marker = format!("FAAS_TEST_MARKER=restart-{}", std::process::id());
    let (mk, mv) = marker.split_once('=').unwrap();
    {
        let p = provider(dir.path()).await;
        p.create_namespace(FunctionNamespace::new("keep"))
            .await
            .unwrap();
        p.create_secret(Secret::new("tok", "keep", "tok-value"))
            .await
            .unwrap();
        p.deploy(
            http_fn("web")
                .with_namespace("keep")
                .with_secret("tok")
                .with_env(mk, mv),
        )
        .await
        .unwrap();
        p.deploy(FunctionDeployment::new("wc", "img").with_env_process("wc -c"))
            .await
            .unwrap();
        p.scale(ScaleRequest::new("wc", "", 2)).await.unwrap();
        p.wait_ready("web", "keep", READY).await.unwrap();
        let deadline = tokio::time::Instant::now() + READY;
        while pids_with_marker(&marker).is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "http function process not seen"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Dropped without shutdown: Drop kills the processes; state is on disk.
    }
    assert_no_processes(&marker).await;
    let p = provider(dir.path()).await;
    assert_eq!(
        p.list_namespaces().await.unwrap(),
        vec!["keep".to_owned(), "openfaas-fn".to_owned()]
    );
    assert_eq!(p.list_secrets("keep").await.unwrap()[0].name, "tok");
    let web = p.wait_ready("web", "keep", READY).await.unwrap().remove(0);
    assert_eq!(
        String::from_utf8(call(&web, "GET", "/secret/tok", b"").await.1).unwrap(),
        "tok-value"
    );
    assert_eq!(p.get("wc", "").await.unwrap().replicas, 2);
    let wc = p.wait_ready("wc", "", READY).await.unwrap().remove(0);
    assert_eq!(
        String::from_utf8_lossy(&call(&wc, "POST", "/", b"1234").await.1).trim(),
        "4"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn a_secrets_key_outside_the_data_dir_survives_restarts_and_a_wrong_key_is_refused() {
    let dir = tempdir();
    let key = dir.path().join("keys-elsewhere/secrets.key");
    let data = dir.path().join("data");
    let value = "kept-apart-secret-value";
    {
        let p = LocalProvider::new(config(dir.path()).with_secrets_key_file(&key))
            .await
            .unwrap();
        p.create_secret(Secret::new("api-key", "", value))
            .await
            .unwrap();
        p.deploy(http_fn("web").with_secret("api-key"))
            .await
            .unwrap();
        p.wait_ready("web", "", READY).await.unwrap();
        p.shutdown().await;
    }
    let key_bytes = std::fs::read(&key).unwrap();
    assert_eq!(key_bytes.len(), 32);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // The data directory holds neither the key nor the plaintext.
    assert!(!data.join("keys").exists());
    assert!(!files_contain(&data, &key_bytes));
    assert!(!files_contain(&data, value.as_bytes()));

    // Restarted with the same key file: the restored function reads its secret.
    let p = LocalProvider::new(config(dir.path()).with_secrets_key_file(&key))
        .await
        .unwrap();
    let web = p.wait_ready("web", "", READY).await.unwrap().remove(0);
    assert_eq!(
        String::from_utf8(call(&web, "GET", "/secret/api-key", b"").await.1).unwrap(),
        value
    );
    p.shutdown().await;
    drop(p);

    // Another key: a clear error at start, not garbage in the function.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, [0x5au8; 32]).unwrap();
    let err = LocalProvider::new(config(dir.path()).with_secrets_key_file(&wrong))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("wrong.key") && err.contains("not the key"),
        "{err}"
    );
    // The default location (no key there: it lives elsewhere) is refused too, with no new key
    // generated over the existing secrets.
    let err = LocalProvider::new(config(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not found") && err.contains("restore"),
        "{err}"
    );
    assert!(!data.join("keys/secrets.key").exists());
}

#[tokio::test]
async fn no_processes_survive_delete_or_shutdown() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    let marker_a = format!("FAAS_TEST_MARKER=a-{}", std::process::id());
    let marker_b = format!("FAAS_TEST_MARKER=b-{}", std::process::id());
    let (ka, va) = marker_a.split_once('=').unwrap();
    let (_, vb) = marker_b.split_once('=').unwrap();
    // An http-mode function and a classic one busy in a long call.
    deploy_ready(&p, http_fn("web").with_env(ka, va)).await;
    p.scale(ScaleRequest::new("web", "", 2)).await.unwrap();
    let sleeper = deploy_ready(
        &p,
        FunctionDeployment::new("sleeper", "img")
            .with_env_process("sleep 30")
            .with_env(ka, vb),
    )
    .await;
    let busy = tokio::spawn(async move { call(&sleeper, "POST", "/", b"").await });
    let deadline = tokio::time::Instant::now() + READY;
    while pids_with_marker(&marker_b).is_empty() || pids_with_marker(&marker_a).len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "function processes did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    p.delete("web", "").await.unwrap();
    assert_no_processes(&marker_a).await;
    assert!(!pids_with_marker(&marker_b).is_empty());
    p.shutdown().await;
    assert_no_processes(&marker_b).await;
    busy.abort();
}
