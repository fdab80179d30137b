//! What the provider suite deploys and how long it waits: [`Options`] and [`TestFunctions`].

use std::time::Duration;

use crate::provider::caps::Cap;

/// The functions the suite deploys. Providers differ (a command for process providers, an image
/// whose fprocess differs for Docker), so every one is a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestFunctions {
    /// The image every test function is deployed from (metadata for process providers).
    pub image: String,
    /// A second image, used by the update checks (must run the same commands).
    pub update_image: String,
    /// The command of the echo function: answers a request with its body (`cat`).
    pub echo: String,
    /// The command of the env function: prints its environment, including the `Http_*` CGI
    /// variables of the request (`env`).
    pub env: String,
    /// The command of the secret reader; `{name}` is replaced by the secret's name
    /// (`cat /var/openfaas/secrets/{name}`).
    pub secret_reader: String,
}

impl Default for TestFunctions {
    fn default() -> Self {
        Self {
            image: "ghcr.io/openfaas/alpine:latest".into(),
            update_image: "ghcr.io/openfaas/alpine:3.20".into(),
            echo: "cat".into(),
            env: "env".into(),
            secret_reader: "cat /var/openfaas/secrets/{name}".into(),
        }
    }
}

impl TestFunctions {
    /// The secret reader's command for secret `name`.
    pub fn secret_reader_for(&self, name: &str) -> String {
        self.secret_reader.replace("{name}", name)
    }
}

/// How the provider suite runs: the functions it deploys, its deadlines and capability
/// overrides. Defaults are generous enough for slow providers (Docker pulls, Kubernetes
/// scheduling); fast providers finish far sooner because every wait polls.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The functions deployed.
    pub functions: TestFunctions,
    /// How long a deployed function may take to become ready.
    pub ready_timeout: Duration,
    /// How long a scale may take to reach its replica count.
    pub scale_timeout: Duration,
    /// How long one HTTP request to a function may take.
    pub invoke_timeout: Duration,
    /// How long expected log lines may take to appear.
    pub log_timeout: Duration,
    /// The most a single check may take, cleanup excluded.
    pub case_timeout: Duration,
    /// Capabilities switched off for this run although the provider declares them (e.g. an
    /// emulator that fakes one); their checks are skipped and their Unsupported check too.
    pub capability_overrides: Vec<Cap>,
    /// Only checks whose id contains one of these strings run (all when empty).
    pub filter: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            functions: TestFunctions::default(),
            ready_timeout: Duration::from_secs(120),
            scale_timeout: Duration::from_secs(120),
            invoke_timeout: Duration::from_secs(10),
            log_timeout: Duration::from_secs(30),
            case_timeout: Duration::from_secs(600),
            capability_overrides: Vec::new(),
            filter: Vec::new(),
        }
    }
}

impl Options {
    /// Options with every deadline set to `d` (the per-check timeout to 5 × `d`): handy for
    /// fast providers in tests.
    pub fn with_deadlines(mut self, d: Duration) -> Self {
        self.ready_timeout = d;
        self.scale_timeout = d;
        self.log_timeout = d;
        self.invoke_timeout = d;
        self.case_timeout = d * 5;
        self
    }

    /// Sets the test functions.
    pub fn with_functions(mut self, functions: TestFunctions) -> Self {
        self.functions = functions;
        self
    }

    /// Parses overrides such as `logs=false,scale_can_zero=false` (the format of
    /// `FAAS_TEST_CAPABILITY_OVERRIDES`). Only switching off is meaningful: `=true` entries are
    /// accepted and ignored.
    pub fn with_capability_overrides(mut self, spec: &str) -> Result<Self, String> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item.split_once('=').unwrap_or((item, "false"));
            let cap = Cap::from_name(name.trim())
                .ok_or_else(|| format!("unknown capability {name:?}"))?;
            match value.trim() {
                "false" | "0" | "off" => self.capability_overrides.push(cap),
                "true" | "1" | "on" => {}
                other => {
                    return Err(format!(
                        "capability {name}: expected true or false, got {other:?}"
                    ));
                }
            }
        }
        Ok(self)
    }
}
