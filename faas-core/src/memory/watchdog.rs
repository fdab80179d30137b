//! The emulated classic watchdog: what a `MemoryProvider` replica answers for one request.
//!
//! The function's command (`envProcess`, else `envVars.fprocess`) is not executed; a few
//! commands are emulated in process, with the output the real command would print:
//!
//! | command | output |
//! |---|---|
//! | `cat` | the request body |
//! | `env` | `KEY=VALUE` lines: the function's env vars, `fprocess`, and the CGI vars |
//! | `cat /var/openfaas/secrets/<name>` | the secret's current bytes (when the function mounts it) |
//! | `echo <words>` | the words and a newline |
//!
//! Anything else answers 500 saying the command is not available.

use http::{HeaderMap, Method, StatusCode};

use crate::model::{ENV_FPROCESS, FunctionDeployment, SECRETS_MOUNT_PATH};

/// The parts of a request a command can see.
#[derive(Debug)]
pub(crate) struct Invocation<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// What the command produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

impl Outcome {
    fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: StatusCode::OK,
            body: body.into(),
        }
    }

    fn failed(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: body.into(),
        }
    }
}

/// Go's `http.CanonicalHeaderKey`: `x-call-id` → `X-Call-Id`.
fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// The environment the classic watchdog gives the process: the function's env, `fprocess`,
/// then `Http_Method`, `Http_Path`, `Http_Query` (when present) and one `Http_<Header>` per
/// request header (first value, dashes as underscores).
pub(crate) fn environment(
    spec: &FunctionDeployment,
    command: &str,
    inv: &Invocation<'_>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = spec
        .env_vars
        .iter()
        .filter(|(k, _)| k.as_str() != ENV_FPROCESS)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.push((ENV_FPROCESS.to_owned(), command.to_owned()));
    env.push(("Http_Method".to_owned(), inv.method.as_str().to_owned()));
    env.push(("Http_Path".to_owned(), inv.path.to_owned()));
    if let Some(q) = inv.query.filter(|q| !q.is_empty()) {
        env.push(("Http_Query".to_owned(), q.to_owned()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in inv.headers {
        if !seen.insert(name.as_str()) {
            continue;
        }
        let key = format!("Http_{}", canonical_header(name.as_str()).replace('-', "_"));
        env.push((key, String::from_utf8_lossy(value.as_bytes()).into_owned()));
    }
    env
}

/// Runs `spec`'s command for `inv`. `secret(name)` returns a mounted secret's current bytes.
pub(crate) fn run(
    spec: &FunctionDeployment,
    inv: &Invocation<'_>,
    secret: impl Fn(&str) -> Option<Vec<u8>>,
) -> Outcome {
    let Some(command) = spec.fprocess() else {
        return Outcome::failed("no fprocess set: deploy the function with envProcess\n");
    };
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["cat"] => Outcome::ok(inv.body),
        ["env"] => {
            let mut out = String::new();
            for (k, v) in environment(spec, command, inv) {
                out.push_str(&k);
                out.push('=');
                out.push_str(&v);
                out.push('\n');
            }
            Outcome::ok(out)
        }
        ["cat", path] if path.starts_with(SECRETS_MOUNT_PATH) => {
            let name = path[SECRETS_MOUNT_PATH.len()..].trim_start_matches('/');
            let mounted = spec.secrets.iter().any(|s| s == name);
            match mounted.then(|| secret(name)).flatten() {
                Some(bytes) => Outcome::ok(bytes),
                None => Outcome::failed(format!(
                    "cat: can't open '{path}': No such file or directory\n"
                )),
            }
        }
        ["echo", rest @ ..] => Outcome::ok(format!("{}\n", rest.join(" "))),
        _ => Outcome::failed(format!(
            "command {command:?} is not available in MemoryProvider (it emulates: cat, env, echo, cat {SECRETS_MOUNT_PATH}/<name>)\n"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(spec: &FunctionDeployment, body: &[u8]) -> Outcome {
        let mut headers = HeaderMap::new();
        headers.insert("x-call-id", http::HeaderValue::from_static("abc"));
        headers.insert("content-type", http::HeaderValue::from_static("text/plain"));
        let inv = Invocation {
            method: &Method::POST,
            path: "/sub/path",
            query: Some("a=1"),
            headers: &headers,
            body,
        };
        run(spec, &inv, |name| {
            (name == "token").then(|| b"s3cret".to_vec())
        })
    }

    #[test]
    fn cat_echoes_the_body() {
        let spec = FunctionDeployment::new("f", "img").with_env_process("cat");
        assert_eq!(call(&spec, b"hello"), Outcome::ok("hello"));
    }

    #[test]
    fn fprocess_env_var_is_the_fallback_command() {
        let spec = FunctionDeployment::new("f", "img").with_env("fprocess", "echo hi  there");
        assert_eq!(call(&spec, b""), Outcome::ok("hi there\n"));
    }

    #[test]
    fn env_prints_function_env_and_cgi_vars() {
        let spec = FunctionDeployment::new("f", "img")
            .with_env_process("env")
            .with_env("MY_VAR", "x");
        let out = String::from_utf8(call(&spec, b"").body).unwrap_or_default();
        for line in [
            "MY_VAR=x",
            "fprocess=env",
            "Http_Method=POST",
            "Http_Path=/sub/path",
            "Http_Query=a=1",
            "Http_X_Call_Id=abc",
            "Http_Content_Type=text/plain",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing in {out}");
        }
    }

    #[test]
    fn secrets_are_readable_only_when_mounted() {
        let cmd = "cat /var/openfaas/secrets/token";
        let mounted = FunctionDeployment::new("f", "img")
            .with_env_process(cmd)
            .with_secret("token");
        assert_eq!(call(&mounted, b""), Outcome::ok("s3cret"));
        let unmounted = FunctionDeployment::new("f", "img").with_env_process(cmd);
        assert_eq!(
            call(&unmounted, b"").status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let missing = FunctionDeployment::new("f", "img")
            .with_env_process("cat /var/openfaas/secrets/other")
            .with_secret("other");
        assert_eq!(
            call(&missing, b"").status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn other_commands_are_not_available() {
        let spec = FunctionDeployment::new("f", "img").with_env_process("python3 index.py");
        let out = call(&spec, b"");
        assert_eq!(out.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(String::from_utf8_lossy(&out.body).contains("not available in MemoryProvider"));
        let none = FunctionDeployment::new("f", "img");
        assert_eq!(call(&none, b"").status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn header_names_are_canonicalised_like_go() {
        assert_eq!(canonical_header("x-call-id"), "X-Call-Id");
        assert_eq!(canonical_header("HOST"), "Host");
    }
}
