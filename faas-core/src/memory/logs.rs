//! A function's log: a bounded ring buffer of recent lines plus a broadcast for followers.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::model::{LogEntry, LogRequest};
use crate::provider::LogStream;

/// How many unread lines a follower may fall behind before it skips ahead.
const FOLLOW_BUFFER: usize = 1024;

/// The log of one function.
#[derive(Debug)]
pub(crate) struct LogBuffer {
    name: String,
    namespace: String,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    lines: VecDeque<LogEntry>,
    bytes: usize,
    /// `None` once the function is deleted: followers' streams end.
    live: Option<broadcast::Sender<LogEntry>>,
}

impl LogBuffer {
    /// An empty log keeping at most `capacity` lines (at least one).
    pub(crate) fn new(name: &str, namespace: &str, capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(FOLLOW_BUFFER);
        Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                lines: VecDeque::new(),
                bytes: 0,
                live: Some(tx),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the buffer inconsistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one line written by replica `instance` now.
    pub(crate) fn push(&self, instance: &str, text: impl Into<String>) {
        self.push_at(instance, text, Utc::now());
    }

    fn push_at(&self, instance: &str, text: impl Into<String>, timestamp: DateTime<Utc>) {
        let entry = LogEntry {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            instance: instance.to_owned(),
            timestamp,
            text: text.into(),
        };
        let mut inner = self.lock();
        if inner.live.is_none() {
            return;
        }
        if inner.lines.len() == self.capacity
            && let Some(old) = inner.lines.pop_front()
        {
            inner.bytes -= old.text.len();
        }
        inner.bytes += entry.text.len();
        if let Some(tx) = &inner.live {
            // No followers is not an error.
            let _ = tx.send(entry.clone());
        }
        inner.lines.push_back(entry);
    }

    /// The bytes of text currently kept.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Ends every follower's stream and drops the kept lines (the function is gone).
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.live = None;
        inner.lines.clear();
        inner.bytes = 0;
    }

    /// The lines `request` asks for; with `follow`, new lines follow without gap or repeat.
    pub(crate) fn stream(&self, request: &LogRequest) -> LogStream {
        let instance = request.instance.clone().filter(|i| !i.is_empty());
        let since = request.since;
        let matches = move |e: &LogEntry| {
            instance.as_deref().is_none_or(|i| e.instance == i)
                && since.is_none_or(|s| e.timestamp >= s)
        };
        // Snapshot and subscribe under one lock so nothing is missed or repeated.
        let inner = self.lock();
        let mut kept: Vec<LogEntry> = inner.lines.iter().filter(|e| matches(e)).cloned().collect();
        if let Some(tail) = request.tail.filter(|t| *t > 0) {
            let tail = usize::try_from(tail).unwrap_or(usize::MAX);
            if kept.len() > tail {
                kept.drain(..kept.len() - tail);
            }
        }
        let live = if request.follow {
            inner.live.as_ref().map(broadcast::Sender::subscribe)
        } else {
            None
        };
        drop(inner);

        let backlog = futures::stream::iter(kept.into_iter().map(Ok));
        match live {
            None => backlog.boxed(),
            Some(rx) => {
                let name = self.name.clone();
                let follow = BroadcastStream::new(rx).filter_map(move |item| {
                    let out = match item {
                        Ok(entry) if matches(&entry) => Some(Ok(entry)),
                        Ok(_) => None,
                        Err(BroadcastStreamRecvError::Lagged(n)) => {
                            tracing::warn!(function = %name, skipped = n, "log follower fell behind; lines skipped");
                            None
                        }
                    };
                    futures::future::ready(out)
                });
                backlog.chain(follow).boxed()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    async fn texts(stream: LogStream) -> Vec<String> {
        stream
            .map(|e| e.map(|e| e.text).unwrap_or_default())
            .collect()
            .await
    }

    #[tokio::test]
    async fn keeps_only_the_newest_lines_within_capacity() {
        let log = LogBuffer::new("f", "ns", 3);
        for i in 0..5 {
            log.push("r1", format!("line {i}"));
        }
        let all = texts(log.stream(&LogRequest::new("f", "ns"))).await;
        assert_eq!(all, ["line 2", "line 3", "line 4"]);
        assert_eq!(log.bytes(), 18);
    }

    #[tokio::test]
    async fn filters_by_tail_instance_and_since() {
        let log = LogBuffer::new("f", "ns", 100);
        let t0 = Utc::now();
        log.push_at("a", "old", t0 - TimeDelta::seconds(10));
        log.push_at("a", "a1", t0);
        log.push_at("b", "b1", t0);
        log.push_at("a", "a2", t0);
        let tail = texts(log.stream(&LogRequest::new("f", "ns").with_tail(2))).await;
        assert_eq!(tail, ["b1", "a2"]);
        let mut only_a = LogRequest::new("f", "ns");
        only_a.instance = Some("a".into());
        assert_eq!(texts(log.stream(&only_a)).await, ["old", "a1", "a2"]);
        let since = texts(log.stream(&LogRequest::new("f", "ns").with_since(t0))).await;
        assert_eq!(since, ["a1", "b1", "a2"]);
        // tail 0 means unlimited, as in OpenFaaS.
        assert_eq!(
            texts(log.stream(&LogRequest::new("f", "ns").with_tail(0)))
                .await
                .len(),
            4
        );
    }

    #[tokio::test]
    async fn follow_yields_new_lines_and_ends_on_close() {
        let log = LogBuffer::new("f", "ns", 100);
        log.push("a", "before");
        let mut stream = log.stream(&LogRequest::new("f", "ns").with_follow(true));
        log.push("a", "after");
        let first = stream.next().await.and_then(Result::ok).map(|e| e.text);
        let second = stream.next().await.and_then(Result::ok).map(|e| e.text);
        assert_eq!(first.as_deref(), Some("before"));
        assert_eq!(second.as_deref(), Some("after"));
        log.close();
        assert!(stream.next().await.is_none());
        log.push("a", "ignored after close");
        assert!(
            texts(log.stream(&LogRequest::new("f", "ns")))
                .await
                .is_empty()
        );
    }
}
