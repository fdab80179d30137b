//! [`GwCtx`]: what a gateway check works with: an HTTP client with the credentials, names,
//! helpers for deploy/invoke/describe, and cleanup of what the check created.

use std::sync::{Arc, Mutex};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::failure::{Failure, fail};
use crate::gateway::GatewayOptions;
use crate::provider::fixture::Fixture;
use crate::wait::{Probe, eventually};

/// An HTTP response: status, headers, body.
#[derive(Debug, Clone)]
pub struct GwReply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl GwReply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Everything one gateway check needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GwCtx {
    /// The options.
    pub options: Arc<GatewayOptions>,
    fixture: Arc<Fixture>,
    functions: Arc<Mutex<Vec<String>>>,
    secrets: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl GwCtx {
    /// A context for check number `case_no` of run `run_id`.
    pub fn new(options: Arc<GatewayOptions>, run_id: &str, case_no: usize) -> Self {
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_default();
        Self {
            options,
            fixture: Arc::new(Fixture::new(run_id, case_no)),
            functions: Arc::default(),
            secrets: Arc::default(),
            http,
        }
    }

    /// A fresh name.
    pub fn name(&self) -> String {
        self.fixture.name()
    }

    /// The namespace (`""` for the gateway's default).
    pub fn ns(&self) -> &str {
        &self.options.namespace
    }

    /// `?namespace=<ns>`, or `""` for the default namespace.
    pub fn ns_query(&self) -> String {
        if self.ns().is_empty() {
            String::new()
        } else {
            format!("?namespace={}", self.ns())
        }
    }

    /// The invocation path of `name`: `/function/<name>` or `/function/<name>.<ns>`.
    pub fn function_path(&self, name: &str) -> String {
        if self.ns().is_empty() {
            format!("/function/{name}")
        } else {
            format!("/function/{name}.{}", self.ns())
        }
    }

    /// A request to `path` without credentials.
    pub fn bare(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.options.url))
    }

    /// A request to `path` with the basic-auth credentials.
    pub fn sys(&self, method: Method, path: &str) -> RequestBuilder {
        self.bare(method, path)
            .basic_auth(&self.options.user, Some(&self.options.password))
    }

    /// Sends `req` and reads the whole response.
    pub async fn send(&self, req: RequestBuilder) -> Result<GwReply, String> {
        let resp = req
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_vec();
        Ok(GwReply {
            status,
            headers,
            body,
        })
    }

    /// Sends `req`; a transport error fails `clause`.
    pub async fn call(
        &self,
        req: RequestBuilder,
        clause: &'static str,
        what: &str,
    ) -> Result<GwReply, Failure> {
        match self.send(req).await {
            Ok(r) => Ok(r),
            Err(e) => fail!(clause, "{what}: {e}"),
        }
    }

    /// A deployment body for a fresh function running `command`.
    pub fn deployment(&self, command: &str) -> Value {
        let mut d = json!({
            "service": self.name(),
            "image": self.options.functions.image,
            "envProcess": command,
            "labels": {},
            "annotations": {},
        });
        if !self.ns().is_empty() {
            d["namespace"] = json!(self.ns());
        }
        d
    }

    /// Records a function for cleanup.
    pub fn record_function(&self, name: &str) {
        if let Ok(mut f) = self.functions.lock() {
            f.push(name.to_owned());
        }
    }

    /// Records a secret for cleanup.
    pub fn record_secret(&self, name: &str) {
        if let Ok(mut s) = self.secrets.lock() {
            s.push(name.to_owned());
        }
    }

    /// `POST /system/functions` with `body` (recorded for cleanup); requires 200 or 202.
    pub async fn deploy(&self, body: &Value, clause: &'static str) -> Result<String, Failure> {
        let name = body["service"].as_str().unwrap_or_default().to_owned();
        self.record_function(&name);
        let r = self
            .call(
                self.sys(Method::POST, "/system/functions").json(body),
                clause,
                "deploy",
            )
            .await?;
        if !(r.status == StatusCode::OK || r.status == StatusCode::ACCEPTED) {
            fail!(
                clause,
                "POST /system/functions for {name} answered {}: {}",
                r.status,
                r.text()
            );
        }
        Ok(name)
    }

    /// `GET /system/function/<name>`.
    pub async fn describe(&self, name: &str) -> Result<GwReply, String> {
        self.send(self.sys(
            Method::GET,
            &format!("/system/function/{name}{}", self.ns_query()),
        ))
        .await
    }

    /// Invokes `name` with `method`, query (`""` or `?a=b`) and `body`, without credentials.
    pub async fn invoke(
        &self,
        method: Method,
        name: &str,
        query: &str,
        body: &str,
    ) -> Result<GwReply, String> {
        let path = format!("{}{query}", self.function_path(name));
        self.send(self.bare(method, &path).body(body.to_owned()))
            .await
    }

    /// Invokes until a 200 whose body contains `expect` (the function may still be starting),
    /// within the ready deadline; failures cite `clause` with the last reply.
    pub async fn invoke_until(
        &self,
        name: &str,
        body: &str,
        expect: &str,
        clause: &'static str,
    ) -> Result<GwReply, Failure> {
        eventually(self.options.ready_timeout, || async {
            match self.invoke(Method::POST, name, "", body).await {
                Ok(r) if r.status == StatusCode::OK && r.text().contains(expect) => Probe::Done(r),
                Ok(r) if r.status == StatusCode::UNAUTHORIZED => {
                    Probe::Pending("401: /function/ must not need credentials".into())
                }
                Ok(r) => Probe::Pending(format!(
                    "{}: {:?}",
                    r.status,
                    crate::provider::ctx::truncate(&r.text())
                )),
                Err(e) => Probe::Pending(e),
            }
        })
        .await
        .map_err(|e| {
            Failure::failed(
                clause,
                format!("{name} never answered 200 with {expect:?}: {e}"),
            )
        })
    }

    /// Deletes what the check created: functions, then secrets. Returns problems.
    pub async fn cleanup(&self) -> Vec<String> {
        let functions = self
            .functions
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        let secrets = self
            .secrets
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        let mut problems = Vec::new();
        for f in functions {
            let body = json!({"functionName": f, "namespace": self.ns()});
            match self
                .send(self.sys(Method::DELETE, "/system/functions").json(&body))
                .await
            {
                Ok(r) if r.status.is_success() || r.status == StatusCode::NOT_FOUND => {}
                Ok(r) => problems.push(format!("cleanup of function {f}: {}", r.status)),
                Err(e) => problems.push(format!("cleanup of function {f}: {e}")),
            }
        }
        for s in secrets {
            let body = json!({"name": s, "namespace": self.ns()});
            match self
                .send(self.sys(Method::DELETE, "/system/secrets").json(&body))
                .await
            {
                Ok(r) if r.status.is_success() || r.status == StatusCode::NOT_FOUND => {}
                Ok(r) => problems.push(format!("cleanup of secret {s}: {}", r.status)),
                Err(e) => problems.push(format!("cleanup of secret {s}: {e}")),
            }
        }
        problems
    }
}

/// Whether a status means "this gateway does not serve that feature".
pub fn unsupported_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
    )
}
