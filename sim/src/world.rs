//! One seeded run: accounts and devices, a stretch of faults (partitions,
//! loss, reordering, duplication, crash-restarts, friendships made and
//! removed, a device linked and one revoked, a forging peer), then healing
//! and quiet, then the checks.

use std::collections::{BTreeMap, BTreeSet};

use kith_crdt::{DocKind, Hash};
use kith_keys::{AccountId, AccountKey, DeviceCert, DeviceId, DeviceKey};

use crate::{
    net::{Faults, Msg, Network},
    node::{Directory, Inject, SimNode},
    rng::Rng,
};

/// Ticks of faults, then ticks of quiet in which everything must settle.
pub const CHAOS_TICKS: u64 = 160;
pub const QUIET_TICKS: u64 = 140;
/// Every this many ticks, each node pulls what it keeps from the devices
/// it follows (the reconnect checks of a real node).
pub const ANTI_ENTROPY_EVERY: u64 = 6;
/// Every this many ticks, received changes become durable.
pub const FLUSH_EVERY: u64 = 5;

/// What one run found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub converged: bool,
    pub lost: u64,
    pub divergent: u64,
    pub forged_accepted: u64,
    pub leaked: u64,
    /// Ticks from an edit to its arrival at the last entitled device.
    pub latencies: Vec<u64>,
}

/// An edit the author was told succeeded.
struct Acked {
    owner: AccountId,
    kind: DocKind,
    hash: Hash,
    author: DeviceId,
    at: u64,
}

struct World {
    rng: Rng,
    nodes: Vec<SimNode>,
    dir: Directory,
    net: Network,
    faults: Faults,
    /// Friendships as the world made them (ground truth).
    friends: BTreeSet<(AccountId, AccountId)>,
    /// Each account's device with the account key.
    admin: BTreeMap<AccountId, usize>,
    revoked: BTreeMap<DeviceId, AccountId>,
    acked: Vec<Acked>,
    forger: usize,
}

pub fn run(seed: u64, nodes: usize, inject: Inject) -> Outcome {
    let mut world = World::new(seed, nodes.max(4), inject);
    for tick in 0..CHAOS_TICKS {
        world.chaos(tick);
        world.step(tick);
    }
    world.heal();
    for tick in CHAOS_TICKS..CHAOS_TICKS + QUIET_TICKS {
        world.step(tick);
    }
    world.check()
}

impl World {
    fn new(seed: u64, count: usize, inject: Inject) -> Self {
        let mut rng = Rng::new(seed);
        let mut nodes = Vec::new();
        let mut admin = BTreeMap::new();
        // Most accounts have one device; every fifth node is a second
        // device of the account before it (certified, without the account key).
        let mut last_key: Option<AccountKey> = None;
        for id in 0..count {
            let device = DeviceKey::from_seed(&rng.bytes32());
            // The last node is the forger: an account of its own.
            let second = id % 5 == 4 && id + 1 < count && last_key.is_some();
            let key = if second {
                last_key
                    .clone()
                    .unwrap_or_else(|| AccountKey::from_seed(&[1; 32]))
            } else {
                AccountKey::from_seed(&rng.bytes32())
            };
            let cert = match DeviceCert::issue(&key, device.id(), "sim", 1) {
                Ok(cert) => cert,
                Err(_) => continue,
            };
            let account = key.id();
            let node = SimNode::new(
                id,
                (!second).then(|| key.clone()),
                account,
                device,
                cert,
                inject,
            );
            if !second {
                admin.insert(account, id);
            }
            last_key = Some(key);
            nodes.push(node);
        }
        let dir = Directory {
            accounts: nodes.iter().map(|n| n.account).collect(),
            devices: nodes.iter().map(|n| n.device_id()).collect(),
        };
        let forger = nodes.len() - 1;
        nodes[forger].forger = true;
        let mut world = World {
            rng,
            nodes,
            dir,
            net: Network::default(),
            faults: Faults {
                loss: 0.05,
                duplicate: 0.05,
                max_delay: 4,
            },
            friends: BTreeSet::new(),
            admin,
            revoked: BTreeMap::new(),
            acked: Vec::new(),
            forger,
        };
        world.setup();
        world
    }

    fn accounts(&self) -> Vec<AccountId> {
        self.admin.keys().copied().collect()
    }

    /// Every device records its certificate; a ring of friendships; the
    /// forger befriends two accounts (a malicious friend).
    fn setup(&mut self) {
        for node in &mut self.nodes {
            let cert = node.cert.clone();
            node.edit(DocKind::Identity, 0, |d| {
                let _ = kith_crdt::identity::add_device(d, &cert);
            });
        }
        let accounts = self.accounts();
        let forger_account = self.nodes[self.forger].account;
        let honest: Vec<AccountId> = accounts
            .iter()
            .copied()
            .filter(|a| *a != forger_account)
            .collect();
        for (i, a) in honest.iter().enumerate() {
            let b = honest[(i + 1) % honest.len()];
            if *a != b {
                self.befriend(*a, b, 0);
            }
        }
        for victim in honest.iter().take(2) {
            self.befriend(forger_account, *victim, 0);
        }
    }

    /// A handshake: both accounts' admin devices must be up.
    fn befriend(&mut self, a: AccountId, b: AccountId, tick: u64) {
        let (Some(&na), Some(&nb)) = (self.admin.get(&a), self.admin.get(&b)) else {
            return;
        };
        if a == b || !self.nodes[na].up || !self.nodes[nb].up {
            return;
        }
        if !self.friends.insert(ordered(a, b)) {
            return;
        }
        for (n, x, y) in [(na, a, b), (nb, b, a)] {
            self.nodes[n].befriend(y, tick);
            self.announce(n, x, DocKind::Friends, tick);
        }
    }

    fn unfriend(&mut self, a: AccountId, b: AccountId, tick: u64) {
        if !self.friends.remove(&ordered(a, b)) {
            return;
        }
        for (x, y) in [(a, b), (b, a)] {
            if let Some(&n) = self.admin.get(&x) {
                self.nodes[n].unfriend(y, tick);
                self.announce(n, x, DocKind::Friends, tick);
            }
        }
    }

    /// Node `n` tells its followers that `owner`'s document changed.
    fn announce(&mut self, n: usize, owner: AccountId, kind: DocKind, tick: u64) {
        if !self.nodes[n].up {
            return;
        }
        let heads = self.nodes[n]
            .copy(&owner, kind)
            .map(|d| d.heads())
            .unwrap_or_default();
        let followers = self.nodes[n].followers(&self.dir);
        for to in followers {
            let msg = Msg::Announce {
                owner,
                doc: kind,
                heads: heads.clone(),
            };
            self.net.send(&mut self.rng, &self.faults, tick, n, to, msg);
        }
    }

    /// One tick of faults and of what people do.
    fn chaos(&mut self, tick: u64) {
        let count = self.nodes.len();
        // Edits: a random device sets a public or friends-only field.
        for _ in 0..2 {
            let n = self.rng.below(count);
            if !self.nodes[n].up || n == self.forger {
                continue;
            }
            let kind = if self.rng.chance(0.5) {
                DocKind::Profile
            } else {
                DocKind::ProfilePrivate
            };
            let field = format!("f{}", self.rng.below(4));
            let value = format!("v{tick}-{n}");
            let account = self.nodes[n].account;
            if let Some(hash) = self.nodes[n].set_field(kind, &field, &value, tick) {
                self.acked.push(Acked {
                    owner: account,
                    kind,
                    hash,
                    author: self.nodes[n].device_id(),
                    at: tick,
                });
                self.announce(n, account, kind, tick);
            }
        }
        // Friendships made and removed.
        if self.rng.chance(0.05) {
            let accounts = self.accounts();
            let forger_account = self.nodes[self.forger].account;
            if let (Some(&a), Some(&b)) = (self.rng.pick(&accounts), self.rng.pick(&accounts))
                && a != forger_account
                && b != forger_account
            {
                if self.friends.contains(&ordered(a, b)) && self.rng.chance(0.4) {
                    self.unfriend(a, b, tick);
                } else {
                    self.befriend(a, b, tick);
                }
            }
        }
        // A second device revoked, once, mid-run.
        if tick == CHAOS_TICKS / 2 {
            self.revoke_one(tick);
        }
        // Crashes and restarts.
        if self.rng.chance(0.08) {
            let n = self.rng.below(count);
            if self.nodes[n].up {
                self.nodes[n].crash();
            } else {
                self.nodes[n].up = true;
            }
        }
        // Partitions come and go.
        if self.rng.chance(0.04) {
            self.net.sides = if self.net.sides.is_some() {
                None
            } else {
                Some((0..count).map(|_| self.rng.chance(0.5)).collect())
            };
        }
        // The forger announces junk heads for its victims' profiles.
        if tick.is_multiple_of(10) {
            let friends = self.nodes[self.forger].friends();
            for victim in friends {
                let msg = Msg::Announce {
                    owner: victim,
                    doc: DocKind::Profile,
                    heads: vec![self.rng.bytes32()],
                };
                let to_list = self.dir.nodes_of(&victim);
                for to in to_list {
                    self.net.send(
                        &mut self.rng,
                        &self.faults,
                        tick,
                        self.forger,
                        to,
                        msg.clone(),
                    );
                }
            }
        }
    }

    fn revoke_one(&mut self, tick: u64) {
        let Some(n) = (0..self.nodes.len()).find(|n| {
            self.nodes[*n].account_key.is_none()
                && !self.revoked.contains_key(&self.nodes[*n].device_id())
        }) else {
            return;
        };
        let account = self.nodes[n].account;
        let device = self.nodes[n].device_id();
        let Some(&admin) = self.admin.get(&account) else {
            return;
        };
        if !self.nodes[admin].up {
            self.nodes[admin].up = true;
        }
        if self.nodes[admin].revoke(device, tick).is_some() {
            self.revoked.insert(device, account);
            self.announce(admin, account, DocKind::Identity, tick);
        }
    }

    /// One tick: flush, deliver what is due, anti-entropy.
    fn step(&mut self, tick: u64) {
        if tick.is_multiple_of(FLUSH_EVERY) {
            for node in self.nodes.iter_mut().filter(|n| n.up) {
                node.flush();
            }
        }
        for (from, to, msg) in self.net.due(tick) {
            if !self.nodes[to].up {
                continue;
            }
            let replies = self.nodes[to].handle(from, msg, &self.dir, tick);
            for (dest, reply) in replies {
                self.net
                    .send(&mut self.rng, &self.faults, tick, to, dest, reply);
            }
        }
        if tick.is_multiple_of(ANTI_ENTROPY_EVERY) {
            for n in 0..self.nodes.len() {
                if !self.nodes[n].up || n == self.forger {
                    continue;
                }
                let peers = self.nodes[n].followers(&self.dir);
                for peer in peers {
                    let server = self.dir.account_of(peer);
                    let items = self.nodes[n].wanted_items(&server);
                    self.net
                        .send(&mut self.rng, &self.faults, tick, n, peer, Msg::Pull(items));
                }
            }
        }
    }

    /// End of the faults: partitions healed, every device up, no loss.
    fn heal(&mut self) {
        self.net.sides = None;
        for node in &mut self.nodes {
            node.up = true;
        }
        self.faults = Faults {
            loss: 0.0,
            duplicate: 0.0,
            max_delay: 2,
        };
    }

    fn check(&mut self) -> Outcome {
        let mut outcome = Outcome::default();
        let honest: Vec<usize> = (0..self.nodes.len())
            .filter(|n| {
                *n != self.forger && !self.revoked.contains_key(&self.nodes[*n].device_id())
            })
            .collect();
        // Who must hold what: an account's own live devices and its friends'.
        let mut divergent = 0;
        for account in self.accounts() {
            if account == self.nodes[self.forger].account {
                continue;
            }
            let Some(&admin) = self.admin.get(&account) else {
                continue;
            };
            let mut holders: Vec<usize> = honest
                .iter()
                .copied()
                .filter(|n| {
                    let a = self.nodes[*n].account;
                    a == account || self.friends.contains(&ordered(a, account))
                })
                .collect();
            holders.retain(|n| *n != admin);
            for kind in DocKind::ALL {
                let reference = self.nodes[admin]
                    .copy(&account, kind)
                    .map(|d| sorted(d.heads()));
                let differing: Vec<usize> = holders
                    .iter()
                    .copied()
                    .filter(|n| {
                        self.nodes[*n]
                            .copy(&account, kind)
                            .map(|d| sorted(d.heads()))
                            != reference
                    })
                    .collect();
                if !differing.is_empty() {
                    divergent += 1;
                    if std::env::var_os("KITH_SIM_DEBUG").is_some() {
                        eprintln!(
                            "diverged: owner {} (admin {admin}) {kind}: holders {differing:?} of {holders:?}; admin heads {:?}",
                            account.fmt_short(),
                            reference.as_ref().map(|r| r.len())
                        );
                        for n in &differing {
                            let heads =
                                self.nodes[*n].copy(&account, kind).map(|d| d.heads().len());
                            let friends = self.nodes[*n].friends().len();
                            eprintln!(
                                "  node {n}: heads {heads:?}, up {}, friends {friends}",
                                self.nodes[*n].up
                            );
                            let theirs = self.nodes[*n]
                                .copy(&account, kind)
                                .map(|d| d.heads())
                                .unwrap_or_default();
                            let ours = self.nodes[admin]
                                .copy(&account, kind)
                                .map(|d| d.heads())
                                .unwrap_or_default();
                            let admin_has = theirs
                                .iter()
                                .map(|h| {
                                    self.nodes[admin]
                                        .copy(&account, kind)
                                        .is_some_and(|d| d.has_change(h))
                                })
                                .collect::<Vec<_>>();
                            let they_have = ours
                                .iter()
                                .map(|h| {
                                    self.nodes[*n]
                                        .copy(&account, kind)
                                        .is_some_and(|d| d.has_change(h))
                                })
                                .collect::<Vec<_>>();
                            let n_changes = self.nodes[*n].changes_of(&(account, kind)).len();
                            let a_changes = self.nodes[admin].changes_of(&(account, kind)).len();
                            let lists = self.nodes[*n].friends().contains(&account);
                            eprintln!(
                                "    lists the owner as a friend: {lists}; owner lists them: {}",
                                self.nodes[admin]
                                    .friends()
                                    .contains(&self.nodes[*n].account)
                            );
                            eprintln!("    since: {:?}", self.nodes[*n].since_for(&account, kind));
                            eprintln!(
                                "    admin {admin} device {}:",
                                self.nodes[admin].device_id().fmt_short()
                            );
                            self.nodes[admin].debug_sigs(&account, kind);
                            eprintln!(
                                "    admin has their heads {admin_has:?}, they have admin's {they_have:?}; changes {n_changes} vs admin {a_changes}"
                            );
                        }
                    }
                }
            }
        }
        outcome.divergent = divergent;
        // Nothing acknowledged lost (edits of devices revoked later excepted).
        for edit in &self.acked {
            if self.revoked.contains_key(&edit.author) {
                continue;
            }
            let Some(&admin) = self.admin.get(&edit.owner) else {
                continue;
            };
            let kept = self.nodes[admin]
                .copy(&edit.owner, edit.kind)
                .is_some_and(|d| d.has_change(&edit.hash));
            if !kept {
                outcome.lost += 1;
                continue;
            }
            // Latency: until the last device that must hold it got it.
            let last = honest
                .iter()
                .filter(|n| {
                    let a = self.nodes[**n].account;
                    a == edit.owner || self.friends.contains(&ordered(a, edit.owner))
                })
                .filter_map(|n| self.nodes[*n].arrivals.get(&edit.hash).copied())
                .max();
            if let Some(last) = last {
                outcome.latencies.push(last.saturating_sub(edit.at));
            }
        }
        // Nothing forged: every change in an honest copy is by a device the
        // owner certified, and — in the copies the holder still follows (its
        // own account's, its friends') — not past a revocation. An
        // ex-friend's stale copy may hold what the revoked device wrote
        // before the ex-friend could learn of the revocation: it was genuine
        // when it came, and that copy is no longer kept current.
        let certified: BTreeMap<Vec<u8>, AccountId> = self
            .nodes
            .iter()
            .map(|n| (n.device_id().as_bytes().to_vec(), n.account))
            .collect();
        let cutoffs = self.cutoffs();
        for n in honest.clone() {
            let copies: Vec<_> = self.nodes[n].copies().into_iter().map(|(k, _)| k).collect();
            for key in copies {
                for (_hash, actor, seq) in self.nodes[n].changes_of(&key) {
                    let genuine = certified.get(&actor) == Some(&key.0);
                    let holder = self.nodes[n].account;
                    let follows = key.0 == holder || self.friends.contains(&ordered(holder, key.0));
                    let in_time = !follows
                        || cutoffs
                            .get(&(actor.clone(), key.1))
                            .is_none_or(|cutoff| seq <= *cutoff);
                    if !genuine || !in_time {
                        if std::env::var_os("KITH_SIM_DEBUG").is_some() {
                            eprintln!(
                                "forged at node {n}: owner {} {}: actor {:02x?} seq {seq}, genuine {genuine}, arrived {:?}, cutoff {:?}",
                                key.0.fmt_short(),
                                key.1,
                                &actor[..4],
                                self.nodes[n].arrivals.get(&_hash),
                                cutoffs.get(&(actor.clone(), key.1))
                            );
                        }
                        outcome.forged_accepted += 1;
                    }
                }
            }
        }
        // Nothing friends-only to anyone not entitled.
        outcome.leaked = self
            .nodes
            .iter()
            .filter(|n| n.id != self.forger)
            .map(|n| n.leaks.len() as u64)
            .sum();
        outcome.converged = outcome.divergent == 0 && outcome.lost == 0;
        outcome
    }

    /// Per revoked device and document, its last accepted sequence number.
    fn cutoffs(&mut self) -> BTreeMap<(Vec<u8>, DocKind), u64> {
        let mut out = BTreeMap::new();
        for (device, account) in self.revoked.clone() {
            let Some(&admin) = self.admin.get(&account) else {
                continue;
            };
            let revocations = self.nodes[admin]
                .copy(&account, DocKind::Identity)
                .map(|d| kith_crdt::identity::revocations(d, &account))
                .unwrap_or_default();
            for r in revocations.iter().filter(|r| r.device == device) {
                for kind in DocKind::ALL {
                    out.insert((device.as_bytes().to_vec(), kind), r.cutoff_for(kind));
                }
            }
        }
        out
    }
}

fn ordered(a: AccountId, b: AccountId) -> (AccountId, AccountId) {
    if a <= b { (a, b) } else { (b, a) }
}

fn sorted(mut heads: Vec<Hash>) -> Vec<Hash> {
    heads.sort_unstable();
    heads
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(o: &Outcome) -> bool {
        o.converged && o.lost == 0 && o.divergent == 0 && o.forged_accepted == 0 && o.leaked == 0
    }

    #[test]
    fn seeded_worlds_converge_with_nothing_lost_forged_or_leaked() {
        for seed in 1..=4 {
            let outcome = run(seed, 10, Inject::None);
            assert!(clean(&outcome), "seed {seed}: {outcome:?}");
            assert!(!outcome.latencies.is_empty(), "seed {seed} made no edits");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_world() {
        assert_eq!(run(11, 8, Inject::None), run(11, 8, Inject::None));
        assert_ne!(
            run(11, 8, Inject::None).latencies,
            run(12, 8, Inject::None).latencies
        );
    }

    /// A checker that cannot fail proves nothing: each planted bug shows.
    #[test]
    fn every_planted_bug_is_caught() {
        for bug in [Inject::NoVerify, Inject::ServeAll, Inject::ForgetSince] {
            let caught = (1..=6).any(|seed| !clean(&run(seed, 10, bug)));
            assert!(caught, "{bug:?} went unnoticed in six seeds");
        }
    }
}
