//! `faas-conformance`: certifies a provider served over gRPC, or a running gateway over HTTP.
//! Prints a table (id, clause, result, time, reason), optionally writes JUnit XML, and exits
//! non-zero when any check failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use faas_conformance::gateway::{self, GatewayOptions};
use faas_conformance::provider::{self, FactoryResult, Options, Target, TestFunctions};
use faas_conformance::report::Report;
use faas_core::grpc::{RemoteConfig, RemoteProvider};

#[derive(Debug, Parser)]
#[command(
    name = "faas-conformance",
    version,
    about = "Certify a faas provider (over gRPC) or gateway (over HTTP) against conformance/SPEC.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the provider suite against a provider served over the gRPC provider protocol.
    Provider(ProviderArgs),
    /// Run the gateway suite against a running gateway.
    Gateway(GatewayArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// Write a JUnit XML report to this file.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Only run checks whose id contains this text (repeatable).
    #[arg(long)]
    filter: Vec<String>,
    /// The image test functions are deployed from.
    #[arg(long, default_value = "ghcr.io/openfaas/alpine:latest")]
    function_image: String,
    /// A second image the update checks switch to.
    #[arg(long, default_value = "ghcr.io/openfaas/alpine:3.20")]
    update_image: String,
    /// The command of the echo function (answers with the request body).
    #[arg(long, default_value = "cat")]
    echo_command: String,
    /// The command of the env function (prints its environment).
    #[arg(long, default_value = "env")]
    env_command: String,
    /// The command of the secret reader; `{name}` is the secret's name.
    #[arg(long, default_value = "cat /var/openfaas/secrets/{name}")]
    secret_command: String,
    /// How long, in seconds, a function may take to become ready or to scale.
    #[arg(long, default_value_t = 120)]
    ready_timeout: u64,
    /// The namespace to test in (default: the provider's or gateway's default).
    #[arg(long, default_value = "")]
    namespace: String,
}

impl Common {
    fn functions(&self) -> TestFunctions {
        let mut f = TestFunctions::default();
        f.image = self.function_image.clone();
        f.update_image = self.update_image.clone();
        f.echo = self.echo_command.clone();
        f.env = self.env_command.clone();
        f.secret_reader = self.secret_command.clone();
        f
    }
}

#[derive(Debug, Args)]
struct ProviderArgs {
    /// The provider's gRPC endpoint, e.g. http://127.0.0.1:50051.
    #[arg(long)]
    grpc: String,
    /// Capabilities to switch off, e.g. `logs=false,scale_can_zero=false`.
    #[arg(long, env = "FAAS_TEST_CAPABILITY_OVERRIDES", default_value = "")]
    capability_overrides: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct GatewayArgs {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The basic-auth user.
    #[arg(long, default_value = "admin")]
    user: String,
    /// A file holding the basic-auth password (trailing whitespace is trimmed).
    #[arg(long)]
    password_file: PathBuf,
    /// Where Prometheus metrics are served (default: <url>/metrics).
    #[arg(long)]
    metrics_url: Option<String>,
    #[command(flatten)]
    common: Common,
}

fn finish(report: &Report, junit: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    print!("{}", report.table());
    if let Some(path) = junit {
        std::fs::write(path, report.junit_xml())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn certify_provider(args: ProviderArgs) -> anyhow::Result<ExitCode> {
    let c = &args.common;
    let ready = Duration::from_secs(c.ready_timeout);
    let mut options = Options::default()
        .with_functions(c.functions())
        .with_capability_overrides(&args.capability_overrides)
        .map_err(anyhow::Error::msg)?;
    options.ready_timeout = ready;
    options.scale_timeout = ready;
    options.filter = c.filter.clone();
    let config = RemoteConfig::new(&args.grpc);
    let remote = Arc::new(
        RemoteProvider::connect(config)
            .await
            .context("connecting to the provider")?,
    );
    let namespace = c.namespace.clone();
    let factory = || {
        let remote = remote.clone();
        let namespace = namespace.clone();
        async move { FactoryResult::Ok(Target::new(remote).with_namespace(namespace)) }
    };
    let report = provider::run(factory, &options).await;
    finish(&report, c.junit.as_ref())
}

async fn certify_gateway(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    let c = &args.common;
    let password = std::fs::read_to_string(&args.password_file)
        .with_context(|| format!("reading {}", args.password_file.display()))?;
    let mut options = GatewayOptions::new(&args.url, &args.user, password.trim_end())
        .with_functions(c.functions())
        .with_namespace(&c.namespace);
    options.ready_timeout = Duration::from_secs(c.ready_timeout);
    options.filter = c.filter.clone();
    if let Some(m) = &args.metrics_url {
        options = options.with_metrics_url(m);
    }
    let report = gateway::run(&options).await;
    finish(&report, c.junit.as_ref())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Provider(args) => certify_provider(args).await,
        Command::Gateway(args) => certify_gateway(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("faas-conformance: {e:#}");
            ExitCode::from(2)
        }
    }
}
