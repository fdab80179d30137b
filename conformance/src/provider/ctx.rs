//! What a check works with: [`Ctx`] holds the provider, the namespace, the options, the fixture
//! and the helpers most checks share (deploy-and-wait, invoke over HTTP, expect an error kind).

use std::sync::Arc;
use std::time::Duration;

use faas_core::{
    Capabilities, DynProvider, Endpoint, Error, ErrorKind, FunctionDeployment, FunctionNamespace,
    FunctionStatus, ProviderInfo, Secret,
};

use crate::failure::{Failure, fail};
use crate::provider::fixture::Fixture;
use crate::provider::options::Options;
use crate::wait::{Probe, eventually};

/// An HTTP response from a function: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Everything one check needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The provider under test.
    pub provider: Arc<DynProvider>,
    /// The namespace the suite was pointed at, as given (`""` means the default).
    pub namespace: String,
    /// What `info()` returned.
    pub info: ProviderInfo,
    /// The capabilities in force (declared, minus overrides).
    pub caps: Capabilities,
    /// The suite options.
    pub options: Arc<Options>,
    /// Names and cleanup for this check.
    pub fixture: Arc<Fixture>,
    http: reqwest::Client,
}

impl Ctx {
    /// A context for one check.
    pub fn new(
        provider: Arc<DynProvider>,
        namespace: String,
        info: ProviderInfo,
        caps: Capabilities,
        options: Arc<Options>,
        fixture: Arc<Fixture>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(options.invoke_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_default();
        Self {
            provider,
            namespace,
            info,
            caps,
            options,
            fixture,
            http,
        }
    }

    /// The effective namespace: the one given, else the provider's default.
    pub fn ns(&self) -> &str {
        if self.namespace.is_empty() {
            &self.info.default_namespace
        } else {
            &self.namespace
        }
    }

    /// A deployment with a fresh name in the namespace, running `command`.
    pub fn function(&self, command: &str) -> FunctionDeployment {
        FunctionDeployment::new(self.fixture.name(), &self.options.functions.image)
            .with_namespace(&self.namespace)
            .with_env_process(command)
    }

    /// A fresh echo function.
    pub fn echo_function(&self) -> FunctionDeployment {
        self.function(&self.options.functions.echo)
    }

    /// A fresh env function.
    pub fn env_function(&self) -> FunctionDeployment {
        self.function(&self.options.functions.env)
    }

    /// Deploys `d`, recording it for cleanup first.
    pub async fn deploy(&self, d: FunctionDeployment) -> faas_core::Result<()> {
        let ns = if d.namespace.is_empty() {
            self.info.default_namespace.clone()
        } else {
            d.namespace.clone()
        };
        self.fixture.function(&d.service, &ns);
        self.provider.deploy(d).await
    }

    /// Deploys `d` and waits until it has a ready endpoint; failures cite `clause`.
    pub async fn deploy_ready(
        &self,
        d: FunctionDeployment,
        clause: &'static str,
    ) -> Result<Vec<Endpoint>, Failure> {
        let (name, ns) = (d.service.clone(), d.namespace.clone());
        if let Err(e) = self.deploy(d).await {
            fail!(clause, "deploy of {name} failed: {e}");
        }
        self.wait_ready(&name, &ns, clause).await
    }

    /// `wait_ready` with the ready deadline; failures cite `clause`.
    pub async fn wait_ready(
        &self,
        name: &str,
        ns: &str,
        clause: &'static str,
    ) -> Result<Vec<Endpoint>, Failure> {
        match self
            .provider
            .wait_ready(name, ns, self.options.ready_timeout)
            .await
        {
            Ok(eps) if !eps.is_empty() => Ok(eps),
            Ok(_) => fail!(clause, "wait_ready({name}) returned no endpoint"),
            Err(e) => fail!(
                clause,
                "wait_ready({name}) within {:?} failed: {e}",
                self.options.ready_timeout
            ),
        }
    }

    /// `get`, failing `clause` on error.
    pub async fn get(
        &self,
        name: &str,
        ns: &str,
        clause: &'static str,
    ) -> Result<FunctionStatus, Failure> {
        match self.provider.get(name, ns).await {
            Ok(s) => Ok(s),
            Err(e) => fail!(clause, "get({name}) failed: {e}"),
        }
    }

    /// Sends one HTTP request to a replica.
    pub async fn invoke(
        &self,
        ep: &Endpoint,
        method: &str,
        path_and_query: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<Reply, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let url = format!("{}{}", ep.base_url(), path_and_query);
        let resp = self
            .http
            .request(method, &url)
            .body(body.into())
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("{url}: reading body: {e}"))?
            .to_vec();
        Ok(Reply { status, body })
    }

    /// POSTs `body` to a replica and requires a 200 whose body contains `expect`; failures cite
    /// `clause`.
    pub async fn expect_answer(
        &self,
        ep: &Endpoint,
        path_and_query: &str,
        body: &str,
        expect: &str,
        clause: &'static str,
    ) -> Result<Reply, Failure> {
        match self.invoke(ep, "POST", path_and_query, body).await {
            Ok(r) if r.status == 200 && r.text().contains(expect) => Ok(r),
            Ok(r) => fail!(
                clause,
                "{} answered {} with {:?}; expected 200 containing {expect:?}",
                ep.base_url(),
                r.status,
                truncate(&r.text())
            ),
            Err(e) => fail!(clause, "invoking {}: {e}", ep.base_url()),
        }
    }

    /// Resolves and invokes until a reply contains `expect` (a rolling update or a restart may
    /// take a while); failures cite `clause` with the last reply.
    pub async fn eventually_answers(
        &self,
        name: &str,
        ns: &str,
        body: &str,
        expect: &str,
        deadline: Duration,
        clause: &'static str,
    ) -> Result<(), Failure> {
        let r = eventually(deadline, || async {
            let eps = match self.provider.resolve(name, ns).await {
                Ok(eps) if !eps.is_empty() => eps,
                Ok(_) => return Probe::Pending("resolve returned no endpoint".into()),
                Err(e) => return Probe::Pending(format!("resolve failed: {e}")),
            };
            let mut last = String::new();
            for ep in &eps {
                match self.invoke(ep, "POST", "/", body).await {
                    Ok(r) if r.status == 200 && r.text().contains(expect) => {}
                    Ok(r) => {
                        last = format!(
                            "{} answered {}: {:?}",
                            ep.base_url(),
                            r.status,
                            truncate(&r.text())
                        )
                    }
                    Err(e) => last = e,
                }
            }
            if last.is_empty() {
                Probe::Done(())
            } else {
                Probe::Pending(last)
            }
        })
        .await;
        r.map_err(|e| {
            Failure::failed(
                clause,
                format!("{name} never answered with {expect:?}: {e}"),
            )
        })
    }

    /// Creates a secret, recording it for cleanup.
    pub async fn create_secret(&self, s: Secret) -> faas_core::Result<()> {
        let ns = if s.namespace.is_empty() {
            self.info.default_namespace.clone()
        } else {
            s.namespace.clone()
        };
        self.fixture.secret(&s.name, &ns);
        self.provider.create_secret(s).await
    }

    /// Creates a namespace, recording it for cleanup.
    pub async fn create_namespace(&self, ns: FunctionNamespace) -> faas_core::Result<()> {
        self.fixture.namespace(&ns.name);
        self.provider.create_namespace(ns).await
    }

    /// A second namespace besides [`Ctx::ns`]: a fresh one when the provider can create
    /// namespaces, else another listed one; skipped when there is none.
    pub async fn other_namespace(&self, clause: &'static str) -> Result<String, Failure> {
        if self.caps.namespaces_can_mutate {
            let name = self.fixture.name();
            if let Err(e) = self.create_namespace(FunctionNamespace::new(&name)).await {
                fail!(clause, "create_namespace({name}) failed: {e}");
            }
            return Ok(name);
        }
        let all = match self.provider.list_namespaces().await {
            Ok(all) => all,
            Err(e) => fail!(clause, "list_namespaces failed: {e}"),
        };
        all.into_iter().find(|n| n != self.ns()).ok_or_else(|| {
            Failure::skipped("the provider lists no second namespace and cannot create one")
        })
    }
}

/// Requires `r` to be an error of `kind`; failures cite `clause` and say what was done.
pub fn expect_kind<T: std::fmt::Debug>(
    r: faas_core::Result<T>,
    kind: ErrorKind,
    clause: &'static str,
    what: &str,
) -> Result<Error, Failure> {
    match r {
        Err(e) if e.kind() == kind => Ok(e),
        Err(e) => fail!(clause, "{what}: expected {kind}, got {} ({e})", e.kind()),
        Ok(v) => fail!(
            clause,
            "{what}: expected {kind}, got Ok({})",
            truncate(&format!("{v:?}"))
        ),
    }
}

/// Shortens long text for failure messages.
pub fn truncate(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
