//! `faas-provider-local`: serves the local process provider over the gRPC provider protocol
//! (`proto/faas/provider/v1/provider.proto`), as faas-netes runs beside the OpenFaaS gateway.
//!
//! ```text
//! faas-provider-local --listen 127.0.0.1:8081 --data-dir /var/lib/faas \
//!     --secrets-key-file /etc/faas/secrets.key
//! ```
//!
//! SIGINT or SIGTERM stops serving, then stops every function replica (no processes are left).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use faas_provider_local::{LocalConfig, LocalProvider};

/// Serve the local process provider over gRPC.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to serve gRPC on.
    #[arg(long, env = "FAAS_LOCAL_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Data directory (state, encrypted secrets, key, logs). Default: /var/lib/faas for root,
    /// else $XDG_DATA_HOME/faas.
    #[arg(long, env = "FAAS_LOCAL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// File holding the secrets encryption key (created 0600 on first start). Default:
    /// <data-dir>/keys/secrets.key; point it outside the data directory when that directory
    /// is backed up or copied, and back the key up separately.
    #[arg(long, env = "FAAS_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
    /// Run functions without mount-namespace isolation or cgroup limits (the fallback).
    #[arg(long)]
    no_isolation: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let is_root = nix::unistd::Uid::effective().is_root();
    let data_dir = args.data_dir.unwrap_or_else(|| {
        let xdg = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from);
        let home = std::env::var_os("HOME").map(PathBuf::from);
        LocalConfig::default_data_dir(is_root, xdg.as_deref(), home.as_deref())
    });
    let mut config = LocalConfig::new(&data_dir).with_isolation(!args.no_isolation);
    if let Some(key) = args.secrets_key_file {
        config = config.with_secrets_key_file(key);
    }
    let provider = Arc::new(
        LocalProvider::new(config)
            .await
            .context("starting the local provider")?,
    );
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
    let served = faas_core::grpc::serve_with_shutdown(provider.clone(), listener, shutdown).await;
    provider.shutdown().await;
    served.context("serving gRPC")
}
