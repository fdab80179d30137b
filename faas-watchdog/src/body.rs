//! [`WatchdogBody`]: the one response body type of the server (no boxing per request).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::mpsc;

/// The error a response body can end with (the connection is then aborted, so the client sees
/// a truncated response rather than a clean end).
pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A chunk of fork-mode output, or the reason output stopped early.
#[derive(Debug)]
pub(crate) enum Chunk {
    Data(Bytes),
    /// The process was killed (exec_timeout) or failed mid-stream: abort the response.
    Abort(&'static str),
}

pin_project_lite::pin_project! {
    /// A response body: empty, one buffer, a proxied upstream body (holding its `max_inflight`
    /// slot until it ends), or fork-mode stdout.
    #[project = BodyProj]
    #[derive(Debug)]
    pub(crate) enum WatchdogBody {
        Full { data: Option<Bytes> },
        Upstream { #[pin] body: Incoming, guard: crate::server::InflightGuard },
        Process { first: Option<Bytes>, rx: mpsc::Receiver<Chunk> },
    }
}

impl WatchdogBody {
    pub(crate) fn full(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        Self::Full {
            data: (!data.is_empty()).then_some(data),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Aborted(&'static str);

impl Body for WatchdogBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.project() {
            BodyProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            BodyProj::Upstream { body, .. } => body.poll_frame(cx).map_err(Into::into),
            BodyProj::Process { first, rx } => {
                if let Some(data) = first.take() {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(Chunk::Data(d))) => Poll::Ready(Some(Ok(Frame::data(d)))),
                    Poll::Ready(Some(Chunk::Abort(why))) => {
                        Poll::Ready(Some(Err(Box::new(Aborted(why)))))
                    }
                    Poll::Ready(None) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full { data } => data.is_none(),
            Self::Upstream { body, .. } => body.is_end_stream(),
            Self::Process { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Self::Upstream { body, .. } => body.size_hint(),
            Self::Process { .. } => SizeHint::default(),
        }
    }
}
