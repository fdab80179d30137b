//! The redb file and its group-commit writer thread.
//!
//! All writes go through one thread that drains every job waiting in its channel into a single
//! write transaction committed with `Durability::Immediate`, then answers each job. Many
//! concurrent enqueues therefore share one fsync, and a caller's `Ok` always means committed.

use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use crate::error::{QueueError, Result};
use crate::message::now_ms;
use crate::queue::DeadLetter;

/// Queued calls by sequence number (FIFO order), value: encoded [`AsyncCall`](crate::AsyncCall).
pub(super) const MESSAGES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("messages");
/// Dead letters by call id, value: JSON [`DeadLetter`].
pub(super) const DEAD: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("dead_letters");

/// One write.
#[derive(Debug)]
pub(super) enum Op {
    /// Insert or overwrite a queued call.
    Put { seq: u64, bytes: Vec<u8> },
    /// Remove a queued call; the outcome says whether it was there.
    Remove { seq: u64 },
    /// Remove a queued call and store a dead letter; outcome: the call was still queued.
    Bury {
        seq: u64,
        id: String,
        bytes: Vec<u8>,
    },
    /// Move a dead letter back into the queue at `seq` with attempts reset; outcome: found.
    Unbury { id: String, seq: u64 },
    /// Remove a dead letter; outcome: found.
    DeleteDead { id: String },
}

struct Job {
    op: Op,
    reply: oneshot::Sender<Result<bool>>,
}

/// Handle to the writer thread.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("op", &self.op)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer thread; it ends when every `Writer` clone is dropped.
    pub(super) fn start(db: Arc<Database>, max_batch: usize) -> Result<Self> {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 4);
        std::thread::Builder::new()
            .name("faas-queue-writer".into())
            .spawn(move || run(db, rx, max_batch.max(1)))
            .map_err(|e| QueueError::unavailable("cannot start the queue writer thread", e))?;
        Ok(Writer { tx })
    }

    /// Applies `op` in the next group commit and waits until it is durable.
    pub(super) async fn submit(&self, op: Op) -> Result<bool> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { op, reply })
            .await
            .map_err(|_| QueueError::Closed)?;
        rx.await.map_err(|_| QueueError::Closed)?
    }
}

fn run(db: Arc<Database>, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        jobs.push(first);
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        match apply(&db, &jobs) {
            Ok(outcomes) => {
                for (job, found) in jobs.drain(..).zip(outcomes) {
                    let _ = job.reply.send(Ok(found));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = jobs.len(), "embedded queue commit failed");
                let msg = e.to_string();
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(QueueError::Unavailable {
                        message: format!("commit failed: {msg}"),
                        source: None,
                    }));
                }
            }
        }
    }
}

fn apply(db: &Database, jobs: &[Job]) -> Result<Vec<bool>> {
    let mut txn = db.begin_write()?;
    txn.set_durability(redb::Durability::Immediate)
        .map_err(redb::Error::from)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    {
        let mut msgs = txn.open_table(MESSAGES)?;
        let mut dead = txn.open_table(DEAD)?;
        for job in jobs {
            let found = match &job.op {
                Op::Put { seq, bytes } => {
                    msgs.insert(*seq, bytes.as_slice())?;
                    true
                }
                Op::Remove { seq } => msgs.remove(*seq)?.is_some(),
                Op::Bury { seq, id, bytes } => {
                    let was_queued = msgs.remove(*seq)?.is_some();
                    dead.insert(id.as_str(), bytes.as_slice())?;
                    was_queued
                }
                Op::Unbury { id, seq } => {
                    let letter = match dead.remove(id.as_str())? {
                        Some(v) => serde_json::from_slice::<DeadLetter>(v.value()).ok(),
                        None => None,
                    };
                    match letter {
                        Some(letter) => {
                            let mut call = letter.call;
                            call.attempt = 0;
                            call.enqueued_at_ms = now_ms();
                            msgs.insert(*seq, call.encode().as_slice())?;
                            true
                        }
                        None => false,
                    }
                }
                Op::DeleteDead { id } => dead.remove(id.as_str())?.is_some(),
            };
            outcomes.push(found);
        }
    }
    txn.commit()?;
    Ok(outcomes)
}

/// Opens (or creates) the database and both tables; returns the queued sequence numbers in
/// order.
pub(super) fn open(path: &std::path::Path) -> Result<(Database, Vec<u64>)> {
    let db = Database::create(path)?;
    let txn = db.begin_write()?;
    {
        txn.open_table(MESSAGES)?;
        txn.open_table(DEAD)?;
    }
    txn.commit()?;
    let read = db.begin_read()?;
    let seqs = {
        let msgs = read.open_table(MESSAGES)?;
        let mut seqs = Vec::with_capacity(msgs.len()? as usize);
        for entry in msgs.range(0u64..)? {
            let (k, _) = entry?;
            seqs.push(k.value());
        }
        seqs
    };
    drop(read);
    Ok((db, seqs))
}

/// Reads the encoded calls for `seqs` (`None` where one is gone).
pub(super) fn read_many(db: &Database, seqs: &[u64]) -> Result<Vec<Option<Vec<u8>>>> {
    let txn = db.begin_read()?;
    let msgs = txn.open_table(MESSAGES)?;
    let mut out = Vec::with_capacity(seqs.len());
    for seq in seqs {
        out.push(msgs.get(*seq)?.map(|v| v.value().to_vec()));
    }
    Ok(out)
}

/// Reads every dead letter.
pub(super) fn read_dead(db: &Database) -> Result<Vec<DeadLetter>> {
    let txn = db.begin_read()?;
    let dead = txn.open_table(DEAD)?;
    let mut out = Vec::new();
    for entry in dead.iter()? {
        let (_, v) = entry?;
        out.push(serde_json::from_slice(v.value()).map_err(QueueError::Decode)?);
    }
    Ok(out)
}
