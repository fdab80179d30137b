//! Readiness: which running tasks answer `GET /_/health` on their published port.
//!
//! The engine says which tasks run and on which host port; this module checks, with one short
//! bounded HTTP probe per task, that the function inside answers. A passed probe is remembered
//! for `ready_ttl` so `resolve` on the request path costs one task listing, not a probe each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::models::{Task, TaskState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::translate::FUNCTION_PORT;

/// A running task and where it publishes port 8080, if it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunningTask {
    /// The Swarm task id (the replica's instance id).
    pub id: String,
    /// The host port of its port 8080 (host-mode publishing).
    pub port: Option<u16>,
}

/// The running tasks among `tasks` (desired and actual state running), with their published
/// ports. The engine lists each host-mode port twice; the first is taken.
pub(crate) fn running_tasks(tasks: &[Task]) -> Vec<RunningTask> {
    let mut out: Vec<RunningTask> = tasks
        .iter()
        .filter(|t| t.desired_state == Some(TaskState::RUNNING))
        .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
        .filter_map(|t| {
            let port = t
                .status
                .as_ref()
                .and_then(|s| s.port_status.as_ref())
                .and_then(|p| p.ports.as_ref())
                .and_then(|ports| {
                    ports
                        .iter()
                        .find(|p| {
                            p.target_port == Some(FUNCTION_PORT) && p.published_port.is_some()
                        })
                        .and_then(|p| p.published_port)
                })
                .and_then(|p| u16::try_from(p).ok());
            Some(RunningTask {
                id: t.id.clone()?,
                port,
            })
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Tasks Swarm means to run whose state it has not yet recorded as running (assigned …
/// starting): their containers may already answer, which `wait_ready` finds out from the
/// engine's container events before the manager does.
pub(crate) fn starting_task_ids(tasks: &[Task]) -> Vec<String> {
    tasks
        .iter()
        .filter(|t| t.desired_state == Some(TaskState::RUNNING))
        .filter(|t| {
            matches!(
                t.status.as_ref().and_then(|s| s.state),
                Some(
                    TaskState::ASSIGNED
                        | TaskState::ACCEPTED
                        | TaskState::PREPARING
                        | TaskState::READY
                        | TaskState::STARTING
                )
            )
        })
        .filter_map(|t| t.id.clone())
        .collect()
}

/// Probes and remembers which tasks are ready.
#[derive(Debug)]
pub(crate) struct Readiness {
    timeout: Duration,
    ttl: Duration,
    passed: Mutex<HashMap<(String, u16), Instant>>,
}

impl Readiness {
    /// Probes bounded by `timeout`, results trusted for `ttl`.
    pub(crate) fn new(timeout: Duration, ttl: Duration) -> Self {
        Self {
            timeout,
            ttl,
            passed: Mutex::new(HashMap::new()),
        }
    }

    /// The port of `task_id` whose probe passed within `ttl`, if one did.
    pub(crate) fn passed_port(&self, task_id: &str) -> Option<u16> {
        let passed = self.passed.lock().ok()?;
        passed
            .iter()
            .find(|((id, _), at)| id == task_id && at.elapsed() < self.ttl)
            .map(|((_, port), _)| *port)
    }

    /// Whether the task publishing `port` answers its health check (cached for `ttl`).
    pub(crate) async fn is_ready(&self, task_id: &str, port: u16) -> bool {
        let key = (task_id.to_owned(), port);
        if let Ok(passed) = self.passed.lock()
            && passed.get(&key).is_some_and(|at| at.elapsed() < self.ttl)
        {
            return true;
        }
        let ok = probe(port, self.timeout).await;
        if let Ok(mut passed) = self.passed.lock() {
            if ok {
                passed.insert(key, Instant::now());
            } else {
                passed.remove(&key);
            }
            let ttl = self.ttl;
            passed.retain(|_, at| at.elapsed() < ttl);
        }
        ok
    }
}

/// `GET /_/health` on `127.0.0.1:port`; true on a 2xx answer within `timeout`.
pub(crate) async fn probe(port: u16, timeout: Duration) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.set_nodelay(true).ok()?;
        let request = format!(
            "GET /_/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 16];
        let mut read = 0;
        while read < 12 {
            let n = stream.read(&mut head[read..]).await.ok()?;
            if n == 0 {
                break;
            }
            read += n;
        }
        let line = std::str::from_utf8(&head[..read]).ok()?;
        Some(line.starts_with("HTTP/1.") && line.get(9..10) == Some("2"))
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(true)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bollard::models::{EndpointPortConfig, PortStatus, TaskStatus};
    use tokio::net::TcpListener;

    use super::*;

    fn task(id: &str, desired: TaskState, state: TaskState, port: Option<i64>) -> Task {
        let ports = port.map(|p| {
            let cfg = EndpointPortConfig {
                target_port: Some(8080),
                published_port: Some(p),
                ..Default::default()
            };
            vec![cfg.clone(), cfg]
        });
        Task {
            id: Some(id.into()),
            desired_state: Some(desired),
            status: Some(TaskStatus {
                state: Some(state),
                port_status: Some(PortStatus { ports }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_running_tasks_count_and_ports_are_deduplicated() {
        let tasks = [
            task("b", TaskState::RUNNING, TaskState::RUNNING, Some(32768)),
            task("a", TaskState::RUNNING, TaskState::STARTING, None),
            task("c", TaskState::SHUTDOWN, TaskState::RUNNING, Some(32769)),
            task("d", TaskState::RUNNING, TaskState::RUNNING, None),
        ];
        assert_eq!(
            running_tasks(&tasks),
            vec![
                RunningTask {
                    id: "b".into(),
                    port: Some(32768)
                },
                RunningTask {
                    id: "d".into(),
                    port: None
                }
            ]
        );
    }

    #[tokio::test]
    async fn probe_accepts_2xx_and_rejects_the_rest() {
        async fn server(status: &'static str) -> u16 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = listener.accept().await {
                    let mut buf = [0u8; 512];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(
                            format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                        )
                        .await;
                }
            });
            port
        }
        let ok = server("200 OK").await;
        let bad = server("503 Service Unavailable").await;
        let t = Duration::from_secs(2);
        assert!(probe(ok, t).await);
        assert!(!probe(bad, t).await);
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(!probe(closed, t).await);
        let r = Readiness::new(t, Duration::from_secs(60));
        assert!(r.is_ready("t1", ok).await);
        assert!(!r.is_ready("t2", bad).await);
        assert_eq!(r.passed_port("t1"), Some(ok));
        assert_eq!(r.passed_port("t2"), None);
    }

    #[test]
    fn starting_tasks_are_those_meant_to_run_and_not_yet_running() {
        let tasks = [
            task("a", TaskState::RUNNING, TaskState::STARTING, None),
            task("b", TaskState::RUNNING, TaskState::RUNNING, Some(32768)),
            task("c", TaskState::SHUTDOWN, TaskState::STARTING, None),
            task("d", TaskState::RUNNING, TaskState::FAILED, None),
            task("e", TaskState::RUNNING, TaskState::PREPARING, None),
        ];
        assert_eq!(starting_task_ids(&tasks), vec!["a", "e"]);
    }
}
