//! The simulated network: messages between nodes, delivered after a random
//! delay (so reordered), sometimes lost or duplicated, never across a
//! partition; all from the world's seeded random source.

use std::collections::BTreeMap;

use kith_crdt::{DocKind, Hash};
use kith_keys::AccountId;
use kith_protocol::sync::{PullItem, PullResult};

use crate::rng::Rng;

/// What nodes say to each other: the real pull messages, and an
/// announcement reduced to what replication needs.
#[derive(Debug, Clone)]
pub enum Msg {
    Announce {
        owner: AccountId,
        doc: DocKind,
        heads: Vec<Hash>,
    },
    Pull(Vec<PullItem>),
    Answer(Vec<PullResult>),
}

/// Fault rates of a run.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    pub loss: f64,
    pub duplicate: f64,
    pub max_delay: u64,
}

#[derive(Debug, Default)]
pub struct Network {
    /// (delivery tick, sequence) → (from, to, message).
    queue: BTreeMap<(u64, u64), (usize, usize, Msg)>,
    seq: u64,
    /// Each node's side while partitioned (`None`: no partition).
    pub sides: Option<Vec<bool>>,
    pub sent: u64,
    pub lost: u64,
}

impl Network {
    pub fn send(
        &mut self,
        rng: &mut Rng,
        faults: &Faults,
        now: u64,
        from: usize,
        to: usize,
        msg: Msg,
    ) {
        self.sent += 1;
        if self.cut(from, to) || rng.chance(faults.loss) {
            self.lost += 1;
            return;
        }
        let copies = if rng.chance(faults.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let at = now + 1 + rng.below(faults.max_delay as usize) as u64;
            self.seq += 1;
            self.queue.insert((at, self.seq), (from, to, msg.clone()));
        }
    }

    /// Whether a partition separates `a` and `b`.
    pub fn cut(&self, a: usize, b: usize) -> bool {
        self.sides.as_ref().is_some_and(|s| s.get(a) != s.get(b))
    }

    /// Messages due at `now` (a partition that started meanwhile drops them).
    pub fn due(&mut self, now: u64) -> Vec<(usize, usize, Msg)> {
        let later = self.queue.split_off(&(now + 1, 0));
        let due = std::mem::replace(&mut self.queue, later);
        due.into_values()
            .filter(|(from, to, _)| !self.cut(*from, *to))
            .collect()
    }
}
