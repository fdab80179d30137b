//! Benchmark (not a test): deploy-to-ready time and scale 0→1 to first response of the local
//! provider, for a classic-mode function (`cat`) and an http-mode one (the Rust fixture).
//!
//! `cargo bench -p faas-provider-local --bench local` (release build). Prints median, p90 and
//! max over the iterations.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use faas_core::{Endpoint, FunctionDeployment, Provider, ScaleRequest};
use faas_provider_local::{LocalConfig, LocalProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ITERATIONS: usize = 30;

async fn first_response(ep: &Endpoint) -> u16 {
    let mut s = tokio::net::TcpStream::connect(ep.authority())
        .await
        .unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<48} median {:7.2} ms  p90 {:7.2} ms  max {:7.2} ms  (n={})",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

async fn bench(p: &LocalProvider, label: &str, d: FunctionDeployment) {
    let name = d.service.clone();
    let mut deploy = Vec::new();
    for _ in 0..ITERATIONS {
        let start = Instant::now();
        p.deploy(d.clone()).await.unwrap();
        let ep = p
            .wait_ready(&name, "", Duration::from_secs(10))
            .await
            .unwrap()
            .remove(0);
        deploy.push(start.elapsed());
        assert_eq!(first_response(&ep).await, 200);
        p.delete(&name, "").await.unwrap();
    }
    report(&format!("{label}: deploy to ready"), deploy);

    p.deploy(d.clone()).await.unwrap();
    p.wait_ready(&name, "", Duration::from_secs(10))
        .await
        .unwrap();
    let mut scale = Vec::new();
    for _ in 0..ITERATIONS {
        p.scale(ScaleRequest::new(&name, "", 0)).await.unwrap();
        let start = Instant::now();
        p.scale(ScaleRequest::new(&name, "", 1)).await.unwrap();
        let ep = p
            .wait_ready(&name, "", Duration::from_secs(10))
            .await
            .unwrap()
            .remove(0);
        let status = first_response(&ep).await;
        scale.push(start.elapsed());
        assert_eq!(status, 200);
    }
    report(&format!("{label}: scale 0→1 to first response"), scale);
    p.delete(&name, "").await.unwrap();
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let p = LocalProvider::new(LocalConfig::new(dir.path().join("data")))
        .await
        .unwrap();
    println!(
        "isolated: {}, limits enforced: {}",
        p.isolated(),
        p.limits_enforced()
    );
    bench(
        &p,
        "classic (cat)",
        FunctionDeployment::new("cat", "img").with_env_process("cat"),
    )
    .await;
    let http = FunctionDeployment::new("web", "img")
        .with_env_process(env!("CARGO_BIN_EXE_faas-local-http-fixture"))
        .with_env("mode", "http")
        .with_env("upstream_url", "http://127.0.0.1:5000");
    bench(&p, "http (Rust fixture)", http).await;
    p.shutdown().await;
}
