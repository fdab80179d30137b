//! The `faas-gateway` binary: configuration from flags and the environment, the provider,
//! then [`faas_gateway::serve`] until SIGTERM or SIGINT.

use anyhow::Context as _;
use faas_gateway::auth::{CredentialOrigin, Credentials};
use faas_gateway::provider::Backend;
use faas_gateway::{AppState, GatewayConfig, Source, config::ConfigError, serve};

/// The process environment: the only place the gateway reads it.
struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match GatewayConfig::load(std::env::args_os(), &ProcessEnv) {
        Ok(config) => config,
        Err(ConfigError::Args(e)) => e.exit(),
        Err(e) => anyhow::bail!("configuration: {e}"),
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json {
        logs.json().init()
    } else {
        logs.init()
    }

    let credentials = if config.basic_auth {
        let (creds, origin) = Credentials::load_or_generate(&config)?;
        match origin {
            CredentialOrigin::Generated(path) => tracing::warn!(
                user = creds.user(), password_file = %path.display(),
                "generated basic-auth credentials for /system/*: read the password from this file"),
            other => {
                tracing::info!(user = creds.user(), origin = ?other, "basic auth on for /system/*")
            }
        }
        Some(creds)
    } else {
        tracing::warn!(
            "basic auth is OFF: anyone who can reach this port can deploy and delete functions"
        );
        None
    };
    let backend = Backend::connect(&config)
        .await
        .context("starting the provider")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let state = AppState::new(config, backend.provider(), credentials)
        .await
        .context("asking the provider for its info")?;
    faas_gateway::queue::enable(&state)
        .await
        .context("opening the async queue")?;
    tracing::info!(listen = %listener.local_addr()?, provider = %state.provider_info().provider, "gateway listening");
    serve(listener, state, shutdown_signal()).await?;
    backend.shutdown().await;
    tracing::info!("gateway stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the gateway");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
