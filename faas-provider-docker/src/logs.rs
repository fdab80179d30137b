//! Parsing the lines of `GET /services/{id}/logs?timestamps=1&details=1`.

use chrono::{DateTime, Utc};

/// One parsed log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawLine {
    /// When it was written.
    pub timestamp: DateTime<Utc>,
    /// The Swarm task that wrote it.
    pub task_id: String,
    /// The text, without its newline.
    pub text: String,
}

/// Parses `<RFC 3339 time> <k=v,k=v details> <text>` (details hold `com.docker.swarm.task.id`).
/// Lines without a parseable timestamp are kept with the current time.
pub(crate) fn parse_line(line: &str) -> RawLine {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (timestamp, rest) = match line.split_once(' ') {
        Some((ts, rest)) => match DateTime::parse_from_rfc3339(ts) {
            Ok(t) => (t.with_timezone(&Utc), rest),
            Err(_) => (Utc::now(), line),
        },
        None => match DateTime::parse_from_rfc3339(line) {
            Ok(t) => (t.with_timezone(&Utc), ""),
            Err(_) => (Utc::now(), line),
        },
    };
    let (details, text) = match rest.split_once(' ') {
        Some((d, t)) if d.starts_with("com.docker.") => (d, t),
        None if rest.starts_with("com.docker.") => (rest, ""),
        _ => ("", rest),
    };
    let task_id = details
        .split(',')
        .find_map(|kv| kv.strip_prefix("com.docker.swarm.task.id="))
        .unwrap_or_default()
        .to_owned();
    RawLine {
        timestamp,
        task_id,
        text: text.to_owned(),
    }
}

// === impl Inner (the logs operation) ===

use std::sync::Arc;

use bollard::Docker;
use bollard::query_parameters::LogsOptionsBuilder;
use faas_core::{Error, LogEntry, LogRequest, LogStream, Result};
use futures::StreamExt;

use crate::provider::Inner;

/// Asks the engine for log details (they carry the task id), which bollard's options lack.
fn with_details(docker: Docker) -> Docker {
    docker.with_request_modifier(|mut req| {
        let uri = req.uri().clone();
        if uri.path().ends_with("/logs") {
            let path_and_query = match uri.query() {
                Some(q) => format!("{}?{q}&details=1", uri.path()),
                None => format!("{}?details=1", uri.path()),
            };
            let mut parts = uri.into_parts();
            if let Ok(pq) = path_and_query.parse() {
                parts.path_and_query = Some(pq);
                if let Ok(new) = http::Uri::from_parts(parts) {
                    *req.uri_mut() = new;
                }
            }
        }
        req
    })
}

impl Inner {
    pub(crate) async fn logs(self: Arc<Self>, req: LogRequest) -> Result<LogStream> {
        let namespace = self.namespace(&req.namespace)?;
        let service = self.service(&req.name, &namespace).await?;
        let id = service
            .id
            .clone()
            .ok_or_else(|| Error::internal("service without id"))?;
        let docker = with_details(self.docker().await?);
        let since_secs = req
            .since
            .map(|t| i32::try_from(t.timestamp()).unwrap_or(i32::MAX));
        let options = |follow: bool, since: Option<i32>| {
            let mut b = LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .timestamps(true)
                .follow(follow);
            if let Some(s) = since {
                b = b.since(s);
            }
            b.build()
        };
        let keep = {
            let req = req.clone();
            move |l: &RawLine| {
                req.since.is_none_or(|s| l.timestamp >= s)
                    && req
                        .instance
                        .as_ref()
                        .is_none_or(|i| i.is_empty() || *i == l.task_id)
            }
        };
        let to_entry = {
            let (name, namespace) = (req.name.clone(), namespace.clone());
            move |l: RawLine| LogEntry {
                name: name.clone(),
                namespace: namespace.clone(),
                instance: l.task_id,
                timestamp: l.timestamp,
                text: l.text,
            }
        };

        // The backlog: everything kept so far, merged across tasks in time order, then tailed.
        let mut backlog: Vec<RawLine> = Vec::new();
        let mut stream = docker.service_logs(&id, Some(options(false, since_secs)));
        while let Some(item) = stream.next().await {
            let output = item.map_err(|e| self.engine.fail("service logs", e))?;
            for line in String::from_utf8_lossy(output.as_ref()).lines() {
                let line = parse_line(line);
                if keep(&line) {
                    backlog.push(line);
                }
            }
        }
        backlog.sort_by_key(|l| l.timestamp);
        if let Some(n) = req.tail {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if backlog.len() > n {
                backlog.drain(..backlog.len() - n);
            }
        }
        let last = backlog.last().map(|l| l.timestamp);
        let first: Vec<Result<LogEntry>> = backlog.into_iter().map(|l| Ok(to_entry(l))).collect();
        if !req.follow {
            return Ok(futures::stream::iter(first).boxed());
        }

        // Then new lines: follow from the last second seen, skipping what the backlog had.
        let follow_since = last
            .map(|t| i32::try_from(t.timestamp()).unwrap_or(i32::MAX))
            .or(since_secs);
        let follow_since =
            follow_since.or_else(|| i32::try_from(chrono::Utc::now().timestamp()).ok());
        let engine = self.clone();
        let live = docker
            .service_logs(&id, Some(options(true, follow_since)))
            .flat_map(move |item| {
                let lines: Vec<Result<RawLine>> = match item {
                    Ok(output) => String::from_utf8_lossy(output.as_ref())
                        .lines()
                        .map(|l| Ok(parse_line(l)))
                        .collect(),
                    Err(e) => vec![Err(Error::from(engine.engine.fail("service logs", e)))],
                };
                futures::stream::iter(lines)
            })
            .filter(move |l| {
                let pass = match l {
                    Ok(l) => last.is_none_or(|t| l.timestamp > t) && keep(l),
                    Err(_) => true,
                };
                futures::future::ready(pass)
            })
            .map(move |l| l.map(&to_entry));
        Ok(futures::stream::iter(first).chain(live).boxed())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_timestamp_details_and_text() {
        let l = parse_line(
            "2026-12-03T19:47:23.237131273Z com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1 hello world\n",
        );
        assert_eq!(l.task_id, "t1");
        assert_eq!(l.text, "hello world");
        assert_eq!(
            l.timestamp.to_rfc3339(),
            "2026-12-03T19:47:23.237131273+00:00"
        );
    }

    #[test]
    fn tolerates_missing_parts() {
        let l = parse_line("2026-12-03T19:47:23Z com.docker.swarm.task.id=t2 ");
        assert_eq!(l.task_id, "t2");
        assert_eq!(l.text, "");
        let l = parse_line("no timestamp here");
        assert_eq!(l.text, "no timestamp here");
        assert_eq!(l.task_id, "");
    }
}
