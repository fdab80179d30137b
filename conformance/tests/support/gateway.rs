//! Gateways for the gateway-suite tests: the real gateway (`faas_gateway::serve`) over
//! MemoryProvider with basic auth and the embedded async queue, and a deliberately broken
//! [`FakeGateway`]: a reverse proxy in front of it that breaks one contract ([`GwFault`]), so the
//! tests can prove each gateway check can FAIL.
#![allow(dead_code)]

use std::sync::Arc;

use faas_core::memory::MemoryProvider;
use faas_gateway::auth::Credentials;
use faas_gateway::{AppState, GatewayConfig, serve};
use reqwest::Method;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub(crate) const USER: &str = "admin";
pub(crate) const PASSWORD: &str = "conformance-password";

/// A running real gateway; stops (and its data directory goes) when dropped.
#[derive(Debug)]
pub(crate) struct RealGateway {
    pub(crate) url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// Starts the real gateway with basic auth over a fresh MemoryProvider on 127.0.0.1:0, with the
/// embedded async queue (and its worker) as the binary has by default.
pub(crate) async fn start_gateway() -> RealGateway {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let config = GatewayConfig {
        basic_auth: true,
        data_dir: dir.path().join("data"),
        ..GatewayConfig::default()
    };
    let provider = Arc::new(MemoryProvider::new());
    let state = AppState::new(config, provider, Some(Credentials::new(USER, PASSWORD)))
        .await
        .unwrap_or_else(|e| panic!("gateway state: {e}"));
    faas_gateway::queue::enable(&state)
        .await
        .unwrap_or_else(|e| panic!("opening the embedded async queue: {e}"));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));
    RealGateway {
        url,
        _stop: stop,
        _dir: dir,
    }
}

/// What the fake gateway breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GwFault {
    /// Nothing: a transparent proxy (the control).
    None,
    /// `/async-function/*` answers 503 with `Retry-After: 1`, as a full queue does.
    AsyncQueueFull,
    /// `/async-function/*` answers 404: the route is not served.
    AsyncNotServed,
    /// Requests with this method to paths starting with this prefix need no credentials (the
    /// proxy adds the real ones).
    OpenRoute(Method, &'static str),
    /// Function responses carry a fresh `X-Call-Id` instead of the caller's.
    ReplacesCallId,
    /// `Http_X_Forwarded_For` lines are cut from function responses (the function appears not
    /// to see the header).
    HidesForwardedFor,
}

/// A broken gateway on 127.0.0.1: a reverse proxy to a real one with one [`GwFault`]; stops
/// when dropped.
#[derive(Debug)]
pub(crate) struct FakeGateway {
    pub(crate) url: String,
    task: JoinHandle<()>,
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Proxy {
    upstream: String,
    fault: GwFault,
    http: reqwest::Client,
}

/// One request as read off the wire.
struct Incoming {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Starts a fake gateway in front of `upstream` (a real gateway with [`USER`]/[`PASSWORD`]).
pub(crate) async fn start_fake(upstream: &str, fault: GwFault) -> FakeGateway {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let proxy = Arc::new(Proxy {
        upstream: upstream.to_owned(),
        fault,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_else(|e| panic!("client: {e}")),
    });
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                let _ = proxy.serve(stream).await;
            });
        }
    });
    FakeGateway { url, task }
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Incoming> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(Incoming {
        method,
        path,
        headers,
        body,
    })
}

struct Outgoing {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Outgoing {
    fn new(status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        Self {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }
}

impl Proxy {
    async fn serve(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let req = read_request(&mut stream).await?;
        let resp = self.handle(req).await;
        let mut out = format!("HTTP/1.1 {} X\r\n", resp.status);
        for (k, v) in &resp.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            resp.body.len()
        ));
        stream.write_all(out.as_bytes()).await?;
        stream.write_all(&resp.body).await?;
        stream.shutdown().await
    }

    async fn handle(&self, req: Incoming) -> Outgoing {
        let is_async = req.path.starts_with("/async-function/");
        let is_function = req.path.starts_with("/function/");
        match &self.fault {
            GwFault::AsyncQueueFull if is_async => {
                return Outgoing::new(
                    503,
                    &[("retry-after", "1"), ("content-type", "text/plain")],
                    "the async queue is full\n",
                );
            }
            GwFault::AsyncNotServed if is_async => {
                return Outgoing::new(404, &[("content-type", "text/plain")], "not found\n");
            }
            _ => {}
        }
        let open = matches!(&self.fault, GwFault::OpenRoute(m, prefix)
            if m.as_str() == req.method && req.path.starts_with(prefix));
        let method =
            Method::from_bytes(req.method.as_bytes()).unwrap_or_else(|e| panic!("method: {e}"));
        let mut up = self
            .http
            .request(method, format!("{}{}", self.upstream, req.path));
        for (k, v) in &req.headers {
            let k_lower = k.to_ascii_lowercase();
            if matches!(
                k_lower.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding"
            ) {
                continue;
            }
            up = up.header(k.as_str(), v.as_str());
        }
        if open && req.header("authorization").is_none() {
            up = up.basic_auth(USER, Some(PASSWORD));
        }
        let resp = match up.body(req.body).send().await {
            Ok(r) => r,
            Err(e) => return Outgoing::new(502, &[], &format!("upstream: {e}\n")),
        };
        let status = resp.status().as_u16();
        let mut headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "content-length" | "connection" | "transfer-encoding" | "keep-alive"
                )
            })
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        if is_function {
            match self.fault {
                GwFault::ReplacesCallId => {
                    for (k, v) in &mut headers {
                        if k == "x-call-id" {
                            *v = format!("{v}-replaced");
                        }
                    }
                }
                GwFault::HidesForwardedFor => {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    body = text
                        .lines()
                        .filter(|l| !l.starts_with("Http_X_Forwarded_For="))
                        .map(|l| format!("{l}\n"))
                        .collect::<String>()
                        .into_bytes();
                }
                _ => {}
            }
        }
        Outgoing {
            status,
            headers,
            body,
        }
    }
}
