//! In-memory scheduling of the embedded queue: which stored calls are ready, leased or
//! delayed. Rebuilt from the store on open (everything stored becomes ready, so leases and
//! delays do not survive a restart: those calls are delivered again at once).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Default)]
pub(super) struct Sched {
    ready: VecDeque<u64>,
    leased: HashMap<u64, Instant>,
    delayed: BinaryHeap<Reverse<(Instant, u64)>>,
}

impl Sched {
    pub(super) fn with_ready(seqs: Vec<u64>) -> Self {
        Sched {
            ready: seqs.into(),
            ..Default::default()
        }
    }

    pub(super) fn push_ready(&mut self, seq: u64) {
        self.ready.push_back(seq);
    }

    /// Moves due delayed calls and expired leases to the ready queue.
    fn promote(&mut self, now: Instant) {
        while let Some(Reverse((due, seq))) = self.delayed.peek().copied() {
            if due > now {
                break;
            }
            self.delayed.pop();
            self.ready.push_back(seq);
        }
        let expired: Vec<u64> = self
            .leased
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(s, _)| *s)
            .collect();
        for seq in expired {
            self.leased.remove(&seq);
            tracing::debug!(seq, "embedded queue lease expired; delivering again");
            self.ready.push_front(seq);
        }
    }

    /// Leases up to `max` ready calls until `now + visibility`.
    pub(super) fn take(&mut self, max: usize, now: Instant, visibility: Duration) -> Vec<u64> {
        self.promote(now);
        let n = max.min(self.ready.len());
        let seqs: Vec<u64> = self.ready.drain(..n).collect();
        for seq in &seqs {
            self.leased.insert(*seq, now + visibility);
        }
        seqs
    }

    /// When the next delayed call is due or the next lease expires.
    pub(super) fn next_wakeup(&self) -> Option<Instant> {
        let delayed = self.delayed.peek().map(|Reverse((d, _))| *d);
        let lease = self.leased.values().min().copied();
        match (delayed, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn extend(&mut self, seq: u64, until: Instant) {
        if let Some(d) = self.leased.get_mut(&seq) {
            *d = until;
        }
    }

    /// Forgets a settled (acked or buried) call.
    pub(super) fn settle(&mut self, seq: u64) {
        self.leased.remove(&seq);
    }

    pub(super) fn delay(&mut self, seq: u64, due: Instant) {
        self.leased.remove(&seq);
        self.delayed.push(Reverse((due, seq)));
    }
}
