//! Fork modes (`streaming`, `serializing`): one process per request.
//!
//! The request body is copied to the process' stdin as it arrives, and its stdout is read in
//! chunks into a small bounded channel that the response body drains, so memory stays bounded
//! whatever the body sizes. The response status is decided when the first output arrives: if
//! the process exits before writing anything, its exit status decides (0 → 200, else 500).
//! `exec_timeout` kills the whole process group (504 if nothing was sent yet, otherwise the
//! response is aborted).

use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::body::{Chunk, WatchdogBody};
use crate::config::Mode;
use crate::logs::{LogSource, pump_lines};
use crate::process::{self, Group};
use crate::server::{InflightGuard, Shared, status_response};

/// Bytes read from stdout at a time.
const CHUNK: usize = 64 * 1024;
/// Chunks buffered between the process and a slow client.
const CHANNEL: usize = 4;

/// How the call started, decided by the driver before the response head is written.
#[derive(Debug)]
enum Head {
    /// The first output (streaming): 200, more follows on the channel.
    Output(Bytes),
    /// The process ended before any output (streaming), or with all output (serializing).
    Exited(Option<ExitStatus>, Bytes),
    /// exec_timeout passed before any output: the group was killed.
    TimedOut,
}

/// Runs one call in a new process.
pub(crate) async fn call(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    guard: InflightGuard,
) -> Response<WatchdogBody> {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let mut cmd = process::command(shared);
    cgi_env(&mut cmd, &parts);
    shared.log("Forking fprocess.");
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            shared.log(&format!("Failed to start process: {e}"));
            return status_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Failed to start the function process\n",
            );
        }
    };
    let group = Group::of(&child);
    if let Some(stdin) = child.stdin.take() {
        tokio::spawn(pump_stdin(body, stdin));
    }
    if let Some(stderr) = child.stderr.take() {
        let sink = Arc::clone(&shared.sink);
        let max = shared.config.log_buffer_size;
        tokio::spawn(async move { pump_lines(stderr, LogSource::Stderr, &*sink, max).await });
    }
    let (tx, rx) = mpsc::channel(CHANNEL);
    let (head_tx, head_rx) = oneshot::channel();
    let driver = Driver {
        shared: Arc::clone(shared),
        group,
        start,
        head_tx: Some(head_tx),
        tx,
        _guard: guard,
    };
    tokio::spawn(driver.run(child));
    respond(shared, head_rx.await, rx, start)
}

fn respond(
    shared: &Shared,
    head: Result<Head, oneshot::error::RecvError>,
    rx: mpsc::Receiver<Chunk>,
    start: Instant,
) -> Response<WatchdogBody> {
    let (status, body) = match head {
        Ok(Head::Output(first)) => (
            StatusCode::OK,
            WatchdogBody::Process {
                first: Some(first),
                rx,
            },
        ),
        Ok(Head::Exited(Some(status), out)) if status.success() => {
            (StatusCode::OK, WatchdogBody::full(out))
        }
        Ok(Head::Exited(status, out)) => {
            let out = if out.is_empty() {
                Bytes::from(match status {
                    Some(s) => format!("The function failed: {s}\n"),
                    None => "The function failed\n".to_owned(),
                })
            } else {
                out
            };
            (StatusCode::INTERNAL_SERVER_ERROR, WatchdogBody::full(out))
        }
        Ok(Head::TimedOut) => {
            return status_response(
                StatusCode::GATEWAY_TIMEOUT,
                "Function timed out (exec_timeout): killed process.\n",
            );
        }
        Err(_) => {
            return status_response(StatusCode::INTERNAL_SERVER_ERROR, "The function failed\n");
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, shared.content_type.clone());
    if let Ok(v) = HeaderValue::from_str(&format!("{:.6}", start.elapsed().as_secs_f64())) {
        headers.insert("x-duration-seconds", v);
    }
    resp
}

/// Sets the CGI variables of the classic watchdog and of-watchdog.
fn cgi_env(cmd: &mut Command, parts: &Parts) {
    cmd.env("Http_Method", parts.method.as_str());
    cmd.env("Http_Path", parts.uri.path());
    if let Some(query) = parts.uri.query() {
        cmd.env("Http_Query", query);
    }
    let mut name = String::with_capacity(64);
    for key in parts.headers.keys() {
        let Some(value) = parts.headers.get(key) else {
            continue;
        };
        name.clear();
        name.push_str("Http_");
        // Go's canonical header form (content-type → Content_Type), dashes as underscores.
        let mut upper = true;
        for c in key.as_str().chars() {
            if c == '-' {
                name.push('_');
                upper = true;
            } else if upper {
                name.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                name.push(c);
            }
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        cmd.env(&name, value.as_ref());
        if key == header::CONTENT_LENGTH {
            cmd.env("Http_ContentLength", value.as_ref());
        }
    }
}

/// Copies the request body to stdin as it arrives, then closes stdin. Stops quietly when the
/// process stops reading (broken pipe) or the client goes away.
async fn pump_stdin(mut body: Incoming, mut stdin: ChildStdin) {
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data()
            && stdin.write_all(&data).await.is_err()
        {
            break;
        }
    }
    let _ = stdin.shutdown().await;
}

/// Why the output loop stopped.
enum Stop {
    Eof,
    TimedOut,
    ClientGone,
    ReadError(std::io::Error),
}

/// Owns the process for one call: reads its output, enforces exec_timeout, reaps it, logs.
struct Driver {
    shared: Arc<Shared>,
    group: Group,
    start: Instant,
    head_tx: Option<oneshot::Sender<Head>>,
    tx: mpsc::Sender<Chunk>,
    _guard: InflightGuard,
}

impl Driver {
    async fn run(mut self, mut child: tokio::process::Child) {
        let mut stdout = child.stdout.take();
        let exec_timeout = self.shared.config.exec_timeout;
        let deadline = (!exec_timeout.is_zero()).then(|| self.start + exec_timeout);
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
        let mut sleep = std::pin::pin!(sleep);
        let serializing = self.shared.config.mode == Mode::Serializing;
        let mut buf = BytesMut::with_capacity(CHUNK);
        let mut written: u64 = 0;

        let stop = loop {
            if buf.capacity() - buf.len() < CHUNK / 4 {
                buf.reserve(CHUNK);
            }
            let step = tokio::select! {
                biased;
                () = &mut sleep, if deadline.is_some() => Err(Stop::TimedOut),
                () = client_gone(&mut self.head_tx, &self.tx) => Err(Stop::ClientGone),
                read = read_some(&mut stdout, &mut buf) => Ok(read),
            };
            match step {
                Err(stop) => break stop,
                Ok(Err(e)) => break Stop::ReadError(e),
                Ok(Ok(0)) => break Stop::Eof,
                Ok(Ok(n)) => written += n as u64,
            }
            if serializing {
                continue;
            }
            let chunk = buf.split().freeze();
            if let Some(head_tx) = self.head_tx.take() {
                if head_tx.send(Head::Output(chunk)).is_err() {
                    break Stop::ClientGone;
                }
                continue;
            }
            let sent = tokio::select! {
                biased;
                () = &mut sleep, if deadline.is_some() => Err(Stop::TimedOut),
                sent = self.tx.send(Chunk::Data(chunk)) => sent.map_err(|_| Stop::ClientGone),
            };
            if let Err(stop) = sent {
                break stop;
            }
        };

        let status = match stop {
            Stop::Eof => {
                let waited = tokio::select! {
                    biased;
                    () = &mut sleep, if deadline.is_some() => Err(Stop::TimedOut),
                    () = client_gone(&mut self.head_tx, &self.tx) => Err(Stop::ClientGone),
                    status = child.wait() => Ok(status.ok()),
                };
                match waited {
                    Ok(status) => Ok(status),
                    Err(stop) => Err(stop),
                }
            }
            other => Err(other),
        };
        // Whatever happened, nothing of this call's process group outlives it.
        self.group.kill();
        let status = match status {
            Ok(status) => status,
            Err(stop) => {
                let _ = child.wait().await;
                self.stopped_early(stop).await;
                return;
            }
        };
        let output = buf.split().freeze();
        if let Some(head_tx) = self.head_tx.take() {
            let _ = head_tx.send(Head::Exited(status, output));
        } else if let Some(s) = status.filter(|s| !s.success()) {
            self.shared.log(&format!(
                "Function exited with {s} after its output had been sent"
            ));
        }
        if let Some(s) = status.filter(|s| !s.success()) {
            self.shared.log(&format!("Function exited with {s}"));
        }
        self.wrote(written);
    }

    async fn stopped_early(mut self, stop: Stop) {
        match stop {
            Stop::TimedOut => {
                self.shared.log(&format!(
                    "Function exceeded exec_timeout ({:?}): killed process group {}",
                    self.shared.config.exec_timeout,
                    self.group.id().unwrap_or_default()
                ));
                match self.head_tx.take() {
                    Some(head_tx) => {
                        let _ = head_tx.send(Head::TimedOut);
                    }
                    None => {
                        let abort = self.tx.send(Chunk::Abort("exec_timeout exceeded"));
                        let _ = tokio::time::timeout(Duration::from_secs(1), abort).await;
                    }
                }
            }
            Stop::ClientGone => self
                .shared
                .log("Client went away: killed the function's process group"),
            Stop::ReadError(e) => {
                self.shared
                    .log(&format!("Reading the function's output: {e}"));
                if let Some(head_tx) = self.head_tx.take() {
                    let _ = head_tx.send(Head::Exited(None, Bytes::new()));
                } else {
                    let _ = self
                        .tx
                        .try_send(Chunk::Abort("reading the function's output failed"));
                }
            }
            Stop::Eof => {}
        }
    }

    fn wrote(&self, written: u64) {
        self.shared.log(&format!(
            "Wrote {written} Bytes - Duration: {:.6}s",
            self.start.elapsed().as_secs_f64()
        ));
    }
}

async fn read_some(stdout: &mut Option<ChildStdout>, buf: &mut BytesMut) -> std::io::Result<usize> {
    match stdout {
        Some(out) => out.read_buf(buf).await,
        None => Ok(0),
    }
}

async fn client_gone(head_tx: &mut Option<oneshot::Sender<Head>>, tx: &mpsc::Sender<Chunk>) {
    match head_tx {
        Some(head_tx) => head_tx.closed().await,
        None => tx.closed().await,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
