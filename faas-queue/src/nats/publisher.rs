//! Publishing with batched acks: one task publishes every enqueue and keeps up to
//! [`MAX_UNACKED`] publish-ack futures pending at once (under the client's 5,000 in-flight
//! limit, past which publishing silently stalls), answering each caller when its ack arrives.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};

use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;

use crate::error::{QueueError, Result};

/// Most publish acks awaited at once.
pub(super) const MAX_UNACKED: usize = 4000;

pub(super) struct Job {
    pub(super) subject: String,
    pub(super) msg_id: String,
    pub(super) payload: Bytes,
    pub(super) reply: oneshot::Sender<Result<()>>,
}

/// Starts the publisher task; it ends when the sender is dropped and every ack has settled.
pub(super) fn start(ctx: async_nats::jetstream::Context, max_depth: i64) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(MAX_UNACKED);
    tokio::spawn(run(ctx, rx, max_depth));
    tx
}

fn map_error(e: async_nats::jetstream::context::PublishError, max_depth: i64) -> QueueError {
    let text = e.to_string();
    if text.contains("maximum messages") || text.contains("maximum bytes") {
        let max = u64::try_from(max_depth).unwrap_or(0);
        return QueueError::Full { depth: max, max };
    }
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded => QueueError::Invalid {
            field: "body",
            message: "call exceeds the NATS server's max_payload".into(),
        },
        _ => QueueError::unavailable(format!("JetStream publish failed: {text}"), e),
    }
}

async fn run(ctx: async_nats::jetstream::Context, mut rx: mpsc::Receiver<Job>, max_depth: i64) {
    type Pending = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
    let mut pending: FuturesUnordered<Pending> = FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            Some(()) = pending.next(), if !pending.is_empty() => {}
            job = rx.recv(), if open && pending.len() < MAX_UNACKED => {
                let Some(job) = job else {
                    open = false;
                    continue;
                };
                let publish = PublishMessage::build().payload(job.payload).message_id(job.msg_id);
                match ctx.send_publish(job.subject, publish).await {
                    Ok(ack) => pending.push(Box::pin(settle(ack, job.reply, max_depth))),
                    Err(e) => {
                        let _ = job.reply.send(Err(map_error(e, max_depth)));
                    }
                }
            }
            else => break,
        }
    }
}

async fn settle(ack: PublishAckFuture, reply: oneshot::Sender<Result<()>>, max_depth: i64) {
    let result = ack.await.map(|_| ()).map_err(|e| map_error(e, max_depth));
    let _ = reply.send(result);
}
