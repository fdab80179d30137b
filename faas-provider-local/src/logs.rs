//! Function logs: a bounded in-memory ring per function, an append-only NDJSON file per
//! function with rotation, and a broadcast channel for `follow`.
//!
//! Files are `<data_dir>/logs/<namespace>/<name>.log`; when one passes the configured size it
//! is renamed to `<name>.log.1` (replacing the previous one) and a new file is started, so at
//! most twice the cap is kept per function. On restart the ring is refilled from the file's
//! tail. A line longer than the configured maximum is cut at a character boundary.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use faas_core::{LogEntry, LogRequest, LogStream};
use futures::StreamExt;
use tokio::sync::broadcast;

use crate::error::{LocalError, LocalResult};
use crate::fsutil;

/// A line with its position, so followers never see one twice.
#[derive(Debug, Clone)]
struct Numbered {
    seq: u64,
    entry: LogEntry,
}

#[derive(Debug)]
struct Inner {
    ring: VecDeque<Numbered>,
    next_seq: u64,
    file: Option<File>,
    file_len: u64,
}

/// The logs of one function.
#[derive(Debug)]
pub(crate) struct FunctionLog {
    namespace: String,
    name: String,
    path: PathBuf,
    ring_lines: usize,
    file_max: u64,
    line_max: usize,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Numbered>,
}

impl FunctionLog {
    fn open(
        dir: &Path,
        namespace: &str,
        name: &str,
        ring_lines: usize,
        file_max: u64,
        line_max: usize,
    ) -> LocalResult<Self> {
        let ns_dir = dir.join(namespace);
        fsutil::private_dir(&ns_dir)?;
        let path = ns_dir.join(format!("{name}.log"));
        let mut ring = VecDeque::new();
        if let Ok(f) = File::open(&path) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<LogEntry>(&line) {
                    if ring.len() == ring_lines {
                        ring.pop_front();
                    }
                    ring.push_back(Numbered { seq: 0, entry });
                }
            }
        }
        let mut next_seq = 0;
        for n in ring.iter_mut() {
            n.seq = next_seq;
            next_seq += 1;
        }
        let (file, file_len) = open_append(&path)?;
        let (tx, _) = broadcast::channel(1024);
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            path,
            ring_lines,
            file_max,
            line_max,
            inner: Mutex::new(Inner {
                ring,
                next_seq,
                file: Some(file),
                file_len,
            }),
            tx,
        })
    }

    /// Records one line written by `instance`.
    pub(crate) fn push(&self, instance: &str, text: &str) {
        let text = truncate(text, self.line_max);
        let entry = LogEntry {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            instance: instance.to_owned(),
            timestamp: Utc::now(),
            text: text.to_owned(),
        };
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let numbered = Numbered {
            seq: inner.next_seq,
            entry,
        };
        inner.next_seq += 1;
        if let Ok(mut json) = serde_json::to_vec(&numbered.entry) {
            json.push(b'\n');
            self.append(&mut inner, &json);
        }
        if inner.ring.len() >= self.ring_lines {
            inner.ring.pop_front();
        }
        inner.ring.push_back(numbered.clone());
        // Sent under the lock so the order seen by followers is the ring's order.
        let _ = self.tx.send(numbered);
    }

    fn append(&self, inner: &mut Inner, bytes: &[u8]) {
        if inner.file_len + bytes.len() as u64 > self.file_max && inner.file_len > 0 {
            inner.file = None;
            let rotated = self.path.with_extension("log.1");
            if let Err(e) = fs::rename(&self.path, &rotated) {
                tracing::warn!(path = %self.path.display(), error = %e, "rotating log file");
            }
            match open_append(&self.path) {
                Ok((f, len)) => {
                    inner.file = Some(f);
                    inner.file_len = len;
                }
                Err(e) => tracing::warn!(error = %e, "reopening log file"),
            }
        }
        if let Some(f) = inner.file.as_mut() {
            match f.write_all(bytes) {
                Ok(()) => inner.file_len += bytes.len() as u64,
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "writing log file")
                }
            }
        }
    }

    /// The stream `request` asks for (filters, tail, follow).
    pub(crate) fn stream(self: &Arc<Self>, request: &LogRequest) -> LogStream {
        let rx = self.tx.subscribe();
        let since = request.since;
        let instance = request.instance.clone();
        let matches = move |e: &LogEntry| {
            since.is_none_or(|s| e.timestamp >= s)
                && instance.as_deref().is_none_or(|i| e.instance == i)
        };
        let (backlog, last_seq) = {
            let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let mut lines: Vec<LogEntry> = inner
                .ring
                .iter()
                .map(|n| &n.entry)
                .filter(|e| matches(e))
                .cloned()
                .collect();
            if let Some(t) = request.tail {
                let t = usize::try_from(t).unwrap_or(usize::MAX);
                if lines.len() > t {
                    lines.drain(..lines.len() - t);
                }
            }
            (lines, inner.next_seq)
        };
        let backlog = futures::stream::iter(backlog.into_iter().map(Ok));
        if !request.follow {
            return backlog.boxed();
        }
        let live = futures::stream::unfold(rx, move |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(n) => return Some((n, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter_map(move |n| {
            let keep = n.seq >= last_seq && matches(&n.entry);
            futures::future::ready(keep.then_some(Ok(n.entry)))
        });
        backlog.chain(live).boxed()
    }
}

fn open_append(path: &Path) -> LocalResult<(File, u64)> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(LocalError::io("opening log file", path))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((f, len))
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Every function's logs.
#[derive(Debug)]
pub(crate) struct LogStore {
    dir: PathBuf,
    ring_lines: usize,
    file_max: u64,
    line_max: usize,
    logs: Mutex<HashMap<(String, String), Arc<FunctionLog>>>,
}

impl LogStore {
    /// A store keeping files under `<data_dir>/logs`.
    pub(crate) fn new(
        data_dir: &Path,
        ring_lines: usize,
        file_max: u64,
        line_max: usize,
    ) -> LocalResult<Self> {
        let dir = data_dir.join("logs");
        fsutil::private_dir(&dir)?;
        Ok(Self {
            dir,
            ring_lines: ring_lines.max(1),
            file_max,
            line_max,
            logs: Mutex::new(HashMap::new()),
        })
    }

    /// The log of a function, opened (and refilled from its file) on first use.
    pub(crate) fn open(&self, namespace: &str, name: &str) -> LocalResult<Arc<FunctionLog>> {
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(l) = logs.get(&key) {
            return Ok(l.clone());
        }
        let log = Arc::new(FunctionLog::open(
            &self.dir,
            namespace,
            name,
            self.ring_lines,
            self.file_max,
            self.line_max,
        )?);
        logs.insert(key, log.clone());
        Ok(log)
    }

    /// Forgets a deleted function's logs: followers' streams end and its files are removed.
    pub(crate) fn remove(&self, namespace: &str, name: &str) {
        let removed = self
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(namespace.to_owned(), name.to_owned()));
        drop(removed);
        let base = self.dir.join(namespace).join(format!("{name}.log"));
        let _ = fsutil::remove_file_if_exists(&base);
        let _ = fsutil::remove_file_if_exists(&base.with_extension("log.1"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ring_tail_follow_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path(), 3, 200, 1000).unwrap();
        let log = store.open("ns", "f").unwrap();
        for i in 0..5 {
            log.push("r1", &format!("line {i}"));
        }
        let all: Vec<_> = log.stream(&LogRequest::new("f", "ns")).collect().await;
        let texts: Vec<_> = all.into_iter().map(|e| e.unwrap().text).collect();
        assert_eq!(texts, ["line 2", "line 3", "line 4"]);
        let tail: Vec<_> = log
            .stream(&LogRequest::new("f", "ns").with_tail(1))
            .collect()
            .await;
        assert_eq!(tail.len(), 1);
        // Rotation kept the file under the cap plus one line.
        assert!(
            fs::metadata(dir.path().join("logs/ns/f.log"))
                .unwrap()
                .len()
                <= 200
        );
        assert!(dir.path().join("logs/ns/f.log.1").exists());
        // Follow: backlog then live lines, ending when the log is removed.
        let mut s = log.stream(&LogRequest::new("f", "ns").with_tail(0).with_follow(true));
        log.push("r1", "live");
        assert_eq!(s.next().await.unwrap().unwrap().text, "live");
        store.remove("ns", "f");
        drop(log);
        assert!(s.next().await.is_none());
    }
}
