//! Real-engine tests of the Docker provider (skipped unless `FAAS_TEST_DOCKER=1`): a function's
//! whole life on a Swarm manager, reached only on 127.0.0.1 published ports.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Cleanup, FIXTURE, enabled, fixture_image, http, leftovers, provider, unique};
use faas_core::{
    ErrorKind, FunctionDeployment, FunctionNamespace, FunctionResources, LogRequest, Provider,
    ScaleRequest, Secret,
};
use faas_provider_docker::{DockerConfig, DockerProvider};
use futures::StreamExt;

const READY: Duration = Duration::from_secs(30);

async fn wait_for<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    let mut step = Duration::from_millis(20);
    while !check().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(step).await;
        step = (step * 2).min(Duration::from_millis(250));
    }
}

async fn assert_clean(needle: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let left = leftovers(needle);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < until, "left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_lifecycle_on_a_real_swarm() {
    if !enabled("function_lifecycle_on_a_real_swarm") {
        return;
    }
    let image = fixture_image();
    let p = provider().await;
    let name = unique("life");
    let _cleanup = Cleanup(name.clone());
    let secret = format!("{name}-key");

    // A secret the function reads from /var/openfaas/secrets.
    p.create_secret(Secret::new(&secret, "", "s3cret-v1"))
        .await
        .unwrap();
    assert_eq!(
        p.create_secret(Secret::new(&secret, "", "x"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    assert!(
        p.list_secrets("")
            .await
            .unwrap()
            .iter()
            .any(|s| s.name == secret)
    );

    let mut d = FunctionDeployment::new(&name, &image)
        .with_env_process(format!("{FIXTURE} echo"))
        .with_env("GREETING", "hi")
        .with_label("team", "blue")
        .with_annotation("note", "multi\nline")
        .with_secret(&secret);
    d.limits = Some(FunctionResources {
        memory: "64Mi".into(),
        cpu: "500m".into(),
        ..Default::default()
    });
    d.requests = Some(FunctionResources {
        memory: "16Mi".into(),
        cpu: "50m".into(),
        ..Default::default()
    });
    d.read_only_root_filesystem = true;

    // deploy → first response
    let started = Instant::now();
    p.deploy(d.clone()).await.unwrap();
    assert_eq!(
        p.deploy(d.clone()).await.unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    let endpoints = p.wait_ready(&name, "", READY).await.unwrap();
    let ep = &endpoints[0];
    assert_eq!(ep.host, "127.0.0.1");
    let (status, body) = http(ep.port, "POST", "/", b"hello swarm").await.unwrap();
    println!("deploy -> first response: {:?}", started.elapsed());
    assert_eq!((status, body.as_slice()), (200, b"hello swarm".as_slice()));

    // status reads back what was deployed
    let st = p.get(&name, "").await.unwrap();
    assert_eq!(st.replicas, 1);
    assert_eq!(st.available_replicas, 1);
    assert_eq!(st.labels["team"], "blue");
    assert_eq!(st.labels["faas_function"], name);
    assert_eq!(st.annotations["note"], "multi\nline");
    assert_eq!(st.env_process, format!("{FIXTURE} echo"));
    assert_eq!(st.env_vars["GREETING"], "hi");
    assert_eq!(st.secrets, vec![secret.clone()]);
    assert_eq!(st.limits.as_ref().unwrap().cpu, "500m");
    assert!(st.read_only_root_filesystem);
    assert!(p.list("").await.unwrap().iter().any(|f| f.name == name));

    // scale 2 → two ready endpoints
    p.scale(ScaleRequest::new(&name, "", 2)).await.unwrap();
    wait_for("2 ready replicas", READY, || async {
        p.resolve(&name, "").await.unwrap().len() == 2
    })
    .await;
    assert_eq!(p.get(&name, "").await.unwrap().available_replicas, 2);

    // scale 0 → no endpoints, but the function still exists
    p.scale(ScaleRequest::new(&name, "", 0)).await.unwrap();
    wait_for("0 replicas", READY, || async {
        p.resolve(&name, "").await.unwrap().is_empty()
    })
    .await;
    assert_eq!(p.get(&name, "").await.unwrap().replicas, 0);

    // scale 1 → first response
    let started = Instant::now();
    p.scale(ScaleRequest::new(&name, "", 1)).await.unwrap();
    let ep = p.wait_ready(&name, "", READY).await.unwrap().remove(0);
    let (status, _) = http(ep.port, "POST", "/", b"again").await.unwrap();
    println!("scale 0->1 -> first response: {:?}", started.elapsed());
    assert_eq!(status, 200);

    // logs: the fixture logs one line per request
    let lines: Vec<_> = p
        .logs(LogRequest::new(&name, ""))
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|l| l.unwrap())
        .collect();
    // The watchdog's line per request (or the fixture's own, in its fallback serve mode).
    assert!(
        lines
            .iter()
            .any(|l| l.text.contains("Forking fprocess") || l.text.contains("POST /")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.name == name && !l.instance.is_empty())
    );
    let tail = p
        .logs(LogRequest::new(&name, "").with_tail(1))
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(tail.len(), 1);

    // follow: a new request shows up on an open stream
    let mut follow = p
        .logs(LogRequest::new(&name, "").with_follow(true).with_tail(0))
        .await
        .unwrap();
    http(ep.port, "POST", "/followed", b"followed")
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = follow.next().await {
            let text = line.unwrap().text;
            if text.contains("Wrote 8 Bytes") || text.contains("/followed") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(seen, Ok(true));
    drop(follow);

    // update: switch the command to read the secret; rolling, start-first
    let mut updated = d.clone();
    updated.env_process = format!("{FIXTURE} cat /var/openfaas/secrets/{secret}");
    p.update(updated.clone()).await.unwrap();
    let read_secret = |expect: &'static str| {
        let p = p.clone();
        let name = name.clone();
        async move {
            let Ok(eps) = p.resolve(&name, "").await else {
                return false;
            };
            for ep in eps {
                match http(ep.port, "GET", "/", b"").await {
                    Ok((200, body)) if body == expect.as_bytes() => {}
                    _ => return false,
                }
            }
            true
        }
    };
    wait_for("the updated command reading the secret", READY, || {
        read_secret("s3cret-v1")
    })
    .await;
    assert_eq!(
        p.get(&name, "").await.unwrap().env_process,
        updated.env_process
    );

    // secret rotation: the function sees the new value after its rolling update
    p.update_secret(Secret::new(&secret, "", "s3cret-v2"))
        .await
        .unwrap();
    wait_for("the rotated secret", READY, || read_secret("s3cret-v2")).await;
    assert_eq!(
        p.list_secrets("")
            .await
            .unwrap()
            .iter()
            .filter(|s| s.name == secret)
            .count(),
        1
    );

    // a secret in use cannot be deleted; delete the function, then the secret
    assert_eq!(
        p.delete_secret(&secret, "").await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    p.delete(&name, "").await.unwrap();
    assert_eq!(
        p.delete(&name, "").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        p.get(&name, "").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    p.delete_secret(&secret, "").await.unwrap();
    assert_eq!(
        p.delete_secret(&secret, "").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_clean(&name).await;
}

#[tokio::test]
async fn namespaces_are_isolated_and_recorded() {
    if !enabled("namespaces_are_isolated_and_recorded") {
        return;
    }
    let image = fixture_image();
    let p = provider().await;
    let ns = unique("ns");
    let _cleanup = Cleanup(ns.clone());
    let name = "same-name";

    let f = FunctionDeployment::new(name, &image)
        .with_env_process(format!("{FIXTURE} env"))
        .with_namespace(&ns);
    assert_eq!(
        p.deploy(f.clone()).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let mut meta = FunctionNamespace::new(&ns);
    meta.labels.insert("team".into(), "blue".into());
    p.create_namespace(meta.clone()).await.unwrap();
    assert_eq!(
        p.create_namespace(meta.clone()).await.unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert!(p.list_namespaces().await.unwrap().contains(&ns));
    assert_eq!(p.get_namespace(&ns).await.unwrap().labels["team"], "blue");
    meta.annotations
        .insert("owner".into(), "someone\nelse".into());
    p.update_namespace(meta.clone()).await.unwrap();
    assert_eq!(p.get_namespace(&ns).await.unwrap(), meta);

    p.deploy(f.clone()).await.unwrap();
    assert!(
        p.list(&ns)
            .await
            .unwrap()
            .iter()
            .any(|s| s.name == name && s.namespace == ns)
    );
    assert!(
        !p.list("")
            .await
            .unwrap()
            .iter()
            .any(|s| s.name == name && s.namespace == ns)
    );
    assert_eq!(
        p.get(name, "").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let eps = p.wait_ready(name, &ns, READY).await.unwrap();
    let (status, body) = http(eps[0].port, "GET", "/", b"").await.unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains(&format!("fprocess={FIXTURE} env")));

    assert_eq!(
        p.delete_namespace(&ns).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    p.delete(name, &ns).await.unwrap();
    p.delete_namespace(&ns).await.unwrap();
    assert_eq!(
        p.get_namespace(&ns).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(p.list(&ns).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        p.delete_namespace("").await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_clean(&ns).await;
}

#[tokio::test]
async fn invalid_requests_change_nothing() {
    if !enabled("invalid_requests_change_nothing") {
        return;
    }
    let p = provider().await;
    let name = unique("bad");
    let mut d = FunctionDeployment::new(&name, "fixture:none").with_label("faas.swarm.kind", "x");
    assert_eq!(
        p.deploy(d.clone()).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    d.labels.clear();
    d.limits = Some(FunctionResources {
        cpu: "1e99".into(),
        ..Default::default()
    });
    let e = p.deploy(d.clone()).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (ErrorKind::InvalidInput, Some("limits.cpu"))
    );
    d.limits = None;
    let e = p
        .deploy(d.clone().with_secret("no-such-secret"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        p.get(&name, "").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        p.scale(ScaleRequest::new(&name, "", 1))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        p.resolve(&name, "").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        p.logs(LogRequest::new(&name, ""))
            .await
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_clean(&name).await;
}

#[tokio::test]
async fn unreachable_engine_is_unavailable_with_a_hint() {
    // Needs no engine: a socket path that does not exist.
    let config = DockerConfig {
        host: "unix:///nonexistent/docker.sock".into(),
        ..Default::default()
    };
    let err = DockerProvider::new(config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.message().contains("start dockerd"), "{err}");
}
