//! `faas-provider-docker`: the Docker Swarm provider served over the gRPC provider protocol,
//! for a gateway started with a remote provider (as OpenFaaS runs faas-swarm beside its
//! gateway).
//!
//! Configuration comes from the environment (see `DockerConfig::from_lookup`: `DOCKER_HOST`,
//! `FAAS_DOCKER_*`) and the listen address from `--listen` / `FAAS_PROVIDER_LISTEN`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use faas_provider_docker::{DockerConfig, DockerProvider};

/// Serve the Docker Swarm provider over gRPC.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to serve gRPC on.
    #[arg(long, env = "FAAS_PROVIDER_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let config =
        DockerConfig::from_lookup(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
    let provider = DockerProvider::new(config)
        .await
        .context("starting the Docker provider")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    faas_core::grpc::serve_with_shutdown(Arc::new(provider), listener, shutdown).await?;
    Ok(())
}
