//! The local provider against real processes on 127.0.0.1: every `Provider` method, classic
//! and http mode, isolation, secrets, logs, restart recovery and process cleanup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use faas_core::{
    ErrorKind, FunctionDeployment, FunctionNamespace, FunctionResources, LogRequest, Provider,
    ScaleRequest, Secret,
};
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
    assert_eq!(info.orchestration, "process");
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

#[tokio::test]
async fn limits_are_enforced_through_the_replica_cgroup() {
    let dir = tempdir();
    let p = provider(dir.path()).await;
    if !p.limits_enforced() {
        eprintln!("SKIP limits_are_enforced_through_the_replica_cgroup: no usable cgroups here");
        return;
    }
    let mut d = FunctionDeployment::new("lim", "img").with_env_process("cat /proc/self/cgroup");
    d.limits = Some(FunctionResources {
        memory: "64Mi".into(),
        cpu: "250m".into(),
        ..Default::default()
    });
    let ep = deploy_ready(&p, d).await;
    let out = String::from_utf8(call(&ep, "POST", "/", b"").await.1).unwrap();
    let line = out
        .lines()
        .find(|l| l.contains(":memory:") || l.starts_with("0::"))
        .unwrap()
        .to_owned();
    let path = line.splitn(3, ':').nth(2).unwrap();
    assert!(path.contains("/faas-local-"), "{out}");
    let v1 = format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes");
    let v2 = format!("/sys/fs/cgroup{path}/memory.max");
    let limit = std::fs::read_to_string(&v1)
        .or_else(|_| std::fs::read_to_string(&v2))
        .unwrap();
    assert_eq!(limit.trim(), (64 * 1024 * 1024).to_string());
    p.shutdown().await;
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
