//! One task per consumed queue: a durable pull consumer whose messages feed the queue's
//! delivery channel. On any error (server restart, missed heartbeats) it re-creates the
//! consumer after a backoff; unacked messages are redelivered by JetStream after the ack wait.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};

use super::NatsConfig;
use crate::message::AsyncCall;
use crate::queue::{Delivery, Lease};
use crate::worker::Backoff;

pub(super) async fn run(
    ctx: async_nats::jetstream::Context,
    config: NatsConfig,
    queue: String,
    tx: mpsc::Sender<Delivery>,
) {
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(5),
        ..Backoff::default()
    };
    let mut failures = 0u32;
    loop {
        match consume(&ctx, &config, &queue, &tx, &mut failures).await {
            Ok(()) => return, // the queue was dropped
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = backoff.delay(failures);
                tracing::warn!(queue = %queue, error = %e, retry_in = ?wait, "JetStream consumer failed");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

async fn consume(
    ctx: &async_nats::jetstream::Context,
    config: &NatsConfig,
    queue: &str,
    tx: &mpsc::Sender<Delivery>,
    failures: &mut u32,
) -> Result<(), String> {
    let stream = super::ensure_work_stream(ctx, config)
        .await
        .map_err(|e| e.to_string())?;
    let durable = format!("{}-{queue}", config.durable_prefix);
    let consumer: PullConsumer = stream
        .get_or_create_consumer(
            &durable,
            pull::Config {
                durable_name: Some(durable.clone()),
                filter_subject: config.subject(queue),
                ack_policy: AckPolicy::Explicit,
                ack_wait: config.ack_wait,
                max_deliver: config.max_deliver,
                max_ack_pending: config.max_ack_pending,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("consumer {durable}: {e}"))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(config.fetch_batch)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .map_err(|e| format!("consumer {durable} stream: {e}"))?;
    tracing::debug!(queue, durable = %durable, "JetStream consumer ready");
    while let Some(msg) = messages.next().await {
        let msg = msg.map_err(|e| format!("consumer {durable}: {e}"))?;
        *failures = 0;
        let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
        match AsyncCall::decode(&msg.payload) {
            Ok(mut call) => {
                call.attempt = u32::try_from(delivered.max(1)).unwrap_or(u32::MAX);
                if tx
                    .send(Delivery {
                        call,
                        lease: Lease::Nats(Box::new(msg)),
                    })
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
            Err(e) => {
                tracing::error!(queue, error = %e, "terminating an undecodable JetStream message");
                let _ = msg.ack_with(AckKind::Term).await;
            }
        }
    }
    Err(format!("consumer {durable}: message stream ended"))
}
