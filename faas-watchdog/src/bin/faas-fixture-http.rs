//! `faas-fixture-http`: a small HTTP function used as the http-mode upstream in the watchdog's
//! tests and benchmark. Listens on 127.0.0.1:$PORT (default 5000).
//!
//! - `GET /pid`: the process id.
//! - `GET /stream?n=N&ms=M`: N lines `chunk i`, one every M ms (a streamed response).
//! - `GET /sleep?ms=M`: answers `slept` after M ms.
//! - `GET` anything else: `method uri`; other methods: the request body echoed back, streamed.
//!   Both carry `x-method` and `x-uri` headers.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

type Body = BoxBody<Bytes, hyper::Error>;

fn query_num(req: &Request<Incoming>, key: &str) -> u64 {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let body = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/pid") => full(std::process::id().to_string()),
        ("GET", "/sleep") => {
            tokio::time::sleep(Duration::from_millis(query_num(&req, "ms"))).await;
            full("slept")
        }
        ("GET", "/stream") => {
            let n = query_num(&req, "n");
            let ms = query_num(&req, "ms");
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, hyper::Error>>(1);
            tokio::spawn(async move {
                for i in 0..n {
                    if tx
                        .send(Ok(Frame::data(Bytes::from(format!("chunk {i}\n")))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            });
            ChannelBody(rx).boxed()
        }
        ("GET", _) => full(format!("{method} {uri}")),
        _ => req.into_body().boxed(),
    };
    let mut resp = Response::new(body);
    if let (Ok(m), Ok(u)) = (method.parse(), uri.parse()) {
        resp.headers_mut().insert("x-method", m);
        resp.headers_mut().insert("x-uri", u);
    }
    Ok(resp)
}

/// An mpsc receiver of frames as a response body.
struct ChannelBody(tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, hyper::Error>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = hyper::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        self.0.poll_recv(cx)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("fixture listening on {}", listener.local_addr()?);
    eprintln!("fixture pid {}", std::process::id());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}
