//! One simulated Kith device: its keys, its copies of documents with the
//! signatures of their changes, its pull progress, and what of it survives
//! a crash. It serves and applies through `kith_protocol::replication`,
//! the code the daemon runs.

use std::collections::{BTreeMap, BTreeSet};

use kith_crdt::{Doc, DocKind, Hash, ParsedChange, friends, identity, profile};
use kith_keys::{AccountId, AccountKey, DeviceCert, DeviceId, DeviceKey, Signature, sign::Context};
use kith_protocol::{
    replication::{self, Holder, Served},
    sync::{
        ChangeBatch, Cutoffs, PullItem, PullOutcome, PullResult, Verified, change_payload,
        verify_new,
    },
};

use crate::net::Msg;

/// A bug planted on purpose: the checks must catch each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inject {
    None,
    /// Apply received changes without checking signatures or certificates.
    NoVerify,
    /// Serve every document to everyone (no serving rule).
    ServeAll,
    /// Record a pull's progress as the server's heads, whatever was applied,
    /// and write it through at once.
    ForgetSince,
}

/// Bytes a simulated server puts in one answer: small, so long catch-ups
/// go in several rounds (`more`).
pub const ANSWER_BUDGET: usize = 2048;

type Key = (AccountId, DocKind);

/// What a crash keeps: the state as of the last flush.
#[derive(Debug, Clone, Default)]
struct Durable {
    docs: BTreeMap<Key, Vec<u8>>,
    sigs: BTreeMap<SigKey, (DeviceCert, Signature)>,
    since: BTreeMap<(AccountId, AccountId, DocKind), Vec<Hash>>,
}

/// Signatures are per document: two documents may hold the very same change
/// (every document starts from one genesis, so one device writing the same
/// field and value at the same time into two of them makes one hash), and
/// each signature binds its owner and document.
type SigKey = (AccountId, DocKind, Hash);

/// A friends-only document served to someone the server did not know as
/// entitled: (owner, document, requester).
pub type Leak = (AccountId, DocKind, AccountId);

#[derive(Debug)]
pub struct SimNode {
    pub id: usize,
    pub account: AccountId,
    pub account_key: Option<AccountKey>,
    pub device: DeviceKey,
    pub cert: DeviceCert,
    pub up: bool,
    /// Serves forged changes and announces junk heads.
    pub forger: bool,
    pub inject: Inject,
    docs: BTreeMap<Key, Doc>,
    sigs: BTreeMap<SigKey, (DeviceCert, Signature)>,
    since: BTreeMap<(AccountId, AccountId, DocKind), Vec<Hash>>,
    durable: Durable,
    /// Copies changed since the last flush, and signatures taken since.
    dirty: BTreeSet<Key>,
    fresh_sigs: Vec<(SigKey, (DeviceCert, Signature))>,
    /// Each owner's friend list as this node's copy has it (parsing the
    /// friends document on every message would dominate the run).
    friends_cache: BTreeMap<AccountId, Vec<AccountId>>,
    /// Each owner's verified revocations, likewise.
    revocations_cache: BTreeMap<AccountId, Vec<identity::Revocation>>,
    /// When each change first reached this node (observation, not state).
    pub arrivals: BTreeMap<Hash, u64>,
    pub leaks: Vec<Leak>,
}

/// Who is who, for routing and for the serving rule (what libp2p's hello
/// and the DHT give a real node).
#[derive(Debug, Clone)]
pub struct Directory {
    pub accounts: Vec<AccountId>,
    pub devices: Vec<DeviceId>,
}

impl Directory {
    pub fn account_of(&self, node: usize) -> AccountId {
        self.accounts[node]
    }

    pub fn nodes_of(&self, account: &AccountId) -> Vec<usize> {
        (0..self.accounts.len())
            .filter(|n| self.accounts[*n] == *account)
            .collect()
    }
}

impl SimNode {
    pub fn new(
        id: usize,
        account_key: Option<AccountKey>,
        account: AccountId,
        device: DeviceKey,
        cert: DeviceCert,
        inject: Inject,
    ) -> Self {
        let mut node = SimNode {
            id,
            account,
            account_key,
            device,
            cert,
            up: true,
            forger: false,
            inject,
            docs: BTreeMap::new(),
            sigs: BTreeMap::new(),
            since: BTreeMap::new(),
            durable: Durable::default(),
            dirty: BTreeSet::new(),
            fresh_sigs: Vec::new(),
            friends_cache: BTreeMap::new(),
            revocations_cache: BTreeMap::new(),
            arrivals: BTreeMap::new(),
            leaks: Vec::new(),
        };
        for kind in DocKind::ALL {
            node.docs
                .insert((account, kind), Doc::new(&node.device.id()));
        }
        node
    }

    pub fn device_id(&self) -> DeviceId {
        self.device.id()
    }

    /// This node's copy of `owner`'s document `kind`, if any.
    pub fn copy(&mut self, owner: &AccountId, kind: DocKind) -> Option<&mut Doc> {
        self.docs.get_mut(&(*owner, kind))
    }

    /// The accounts this node's account is friends with (its own copy).
    pub fn friends(&mut self) -> Vec<AccountId> {
        let account = self.account;
        self.friends_of(&account)
    }

    fn wants(&mut self, owner: &AccountId) -> bool {
        *owner == self.account || self.friends().contains(owner)
    }

    /// `owner`'s document `kind` changed here: not yet durable, and a
    /// cached friend list may be stale.
    fn touched(&mut self, owner: AccountId, kind: DocKind) {
        self.dirty.insert((owner, kind));
        match kind {
            DocKind::Friends => drop(self.friends_cache.remove(&owner)),
            DocKind::Identity => drop(self.revocations_cache.remove(&owner)),
            _ => {}
        }
    }

    /// Revocations of `owner`'s devices this node holds.
    fn revocations(&mut self, owner: &AccountId) -> Vec<identity::Revocation> {
        if let Some(cached) = self.revocations_cache.get(owner) {
            return cached.clone();
        }
        let list = self
            .docs
            .get(&(*owner, DocKind::Identity))
            .map(|d| identity::revocations(d, owner))
            .unwrap_or_default();
        self.revocations_cache.insert(*owner, list.clone());
        list
    }

    fn is_revoked(&mut self, account: &AccountId, device: &DeviceId) -> bool {
        self.revocations(account)
            .iter()
            .any(|r| r.device == *device)
    }

    /// Edit one of this account's documents, sign the change, store it
    /// durably (an acknowledged edit) and return its hash.
    pub fn edit(&mut self, kind: DocKind, tick: u64, edit: impl FnOnce(&mut Doc)) -> Option<Hash> {
        let account = self.account;
        let doc = self.docs.get_mut(&(account, kind))?;
        edit(doc);
        let change = doc.commit_at(tick as i64)?;
        let signature = self.device.sign(
            Context::DocumentChange,
            &change_payload(&account, kind, &change.hash),
        );
        let key = (account, kind, change.hash);
        self.sigs.insert(key, (self.cert.clone(), signature));
        self.fresh_sigs.push((key, (self.cert.clone(), signature)));
        self.arrivals.insert(change.hash, tick);
        self.touched(account, kind);
        // Acknowledged edits are durable at once, as the daemon flushes
        // before it answers.
        self.flush();
        Some(change.hash)
    }

    pub fn set_field(
        &mut self,
        kind: DocKind,
        field: &str,
        value: &str,
        tick: u64,
    ) -> Option<Hash> {
        self.edit(kind, tick, |d| {
            let _ = profile::set(d, field, value);
        })
    }

    pub fn befriend(&mut self, other: AccountId, tick: u64) -> Option<Hash> {
        self.edit(DocKind::Friends, tick, |d| {
            let _ = friends::add(
                d,
                &friends::Friend {
                    account: other,
                    name: String::new(),
                    since: tick,
                },
            );
        })
    }

    pub fn unfriend(&mut self, other: AccountId, tick: u64) -> Option<Hash> {
        self.edit(DocKind::Friends, tick, |d| {
            let _ = friends::remove(d, &other);
        })
    }

    /// Revoke `device` of this account (needs the account key): its changes
    /// this node holds stay valid, later ones are refused everywhere.
    pub fn revoke(&mut self, device: DeviceId, tick: u64) -> Option<Hash> {
        let key = self.account_key.clone()?;
        let account = self.account;
        let mut cutoff = [0u64; 6];
        for (slot, kind) in cutoff.iter_mut().zip(DocKind::ALL) {
            if let Some(doc) = self.docs.get_mut(&(account, kind)) {
                *slot = doc.max_seq_of(&device);
            }
        }
        let revocation = identity::Revocation::issue(&key, device, tick, cutoff);
        let hash = self.edit(DocKind::Identity, tick, |d| {
            let _ = identity::add_revocation(d, &revocation);
        });
        self.enforce_revocations(&account);
        hash
    }

    /// Drop changes past the cut-offs of `owner`'s revocations from every
    /// copy of `owner`'s documents (and what depends on them).
    fn enforce_revocations(&mut self, owner: &AccountId) {
        let revocations = self.revocations(owner);
        if revocations.is_empty() {
            return;
        }
        for kind in DocKind::ALL {
            let cutoffs = Cutoffs::of(&revocations, kind);
            if let Some(doc) = self.docs.get_mut(&(*owner, kind))
                && matches!(doc.purge(|actor, seq| cutoffs.refuses(actor, seq)), Ok(n) if n > 0)
            {
                self.touched(*owner, kind);
            }
        }
    }

    /// Every document this node keeps, for the pulls of anti-entropy.
    pub fn wanted_items(&mut self, server: &AccountId) -> Vec<PullItem> {
        let mut owners: BTreeSet<AccountId> = self.friends().into_iter().collect();
        owners.insert(self.account);
        let mut items = Vec::new();
        for owner in owners {
            for kind in DocKind::ALL {
                items.push(self.item(server, owner, kind));
            }
        }
        items
    }

    fn item(&mut self, server: &AccountId, owner: AccountId, kind: DocKind) -> PullItem {
        let heads = self
            .docs
            .get_mut(&(owner, kind))
            .map(|d| d.heads())
            .unwrap_or_default();
        let since = self
            .since
            .get(&(*server, owner, kind))
            .cloned()
            .unwrap_or_default();
        PullItem {
            owner,
            doc: kind,
            heads,
            since,
        }
    }

    /// Handle a message from node `from`; returns messages to send.
    pub fn handle(
        &mut self,
        from: usize,
        msg: Msg,
        dir: &Directory,
        tick: u64,
    ) -> Vec<(usize, Msg)> {
        let peer = dir.account_of(from);
        let peer_device = dir.devices[from];
        match msg {
            Msg::Announce { owner, doc, heads } => {
                if !self.wants(&owner) {
                    return Vec::new();
                }
                let missing = self
                    .docs
                    .get_mut(&(owner, doc))
                    .is_none_or(|d| heads.iter().any(|h| !d.has_change(h)));
                if missing {
                    vec![(from, Msg::Pull(vec![self.item(&peer, owner, doc)]))]
                } else {
                    Vec::new()
                }
            }
            Msg::Pull(items) => {
                let requester = (!self.is_revoked(&peer, &peer_device)).then_some(peer);
                vec![(from, Msg::Answer(self.serve(requester, items)))]
            }
            Msg::Answer(results) => self.take_answer(from, peer, results, dir, tick),
        }
    }

    fn serve(&mut self, requester: Option<AccountId>, items: Vec<PullItem>) -> Vec<PullResult> {
        let mut out = Vec::new();
        for item in items {
            let outcome = if self.forger && item.doc.is_public() && item.owner != self.account {
                self.forged(&item)
            } else {
                let mut budget = ANSWER_BUDGET;
                // The planted bug: every requester treated as the owner.
                let as_who = if self.inject == Inject::ServeAll {
                    Some(item.owner)
                } else {
                    requester
                };
                match replication::serve_item(self, as_who.as_ref(), &item, &mut budget) {
                    Served::Outcome(o) => o,
                    // The simulator has no whole-document answers (each
                    // item has its own budget): the changes go instead.
                    Served::WholeWanted => replication::changes_answer(self, &item, &mut budget),
                }
            };
            // The checker's own view of the serving rule.
            if !item.doc.is_public()
                && let PullOutcome::Changes { batch, .. } = &outcome
                && !batch.changes.is_empty()
            {
                let entitled = requester
                    .is_some_and(|r| r == item.owner || self.friends_of(&item.owner).contains(&r));
                if !entitled {
                    self.leaks
                        .push((item.owner, item.doc, requester.unwrap_or(item.owner)));
                }
            }
            out.push(PullResult {
                owner: item.owner,
                doc: item.doc,
                outcome,
            });
        }
        out
    }

    /// What a forging peer answers: a change of its own on top of the
    /// owner's document, signed with its own (certified, other) account.
    fn forged(&mut self, item: &PullItem) -> PullOutcome {
        let Some(copy) = self.docs.get(&(item.owner, item.doc)) else {
            return PullOutcome::Unknown;
        };
        let mut fork = copy.clone();
        let _ = profile::set(&mut fork, "forged", "yes");
        let Some(change) = fork.commit_at(0) else {
            return PullOutcome::Unknown;
        };
        let signature = self.device.sign(
            Context::DocumentChange,
            &change_payload(&item.owner, item.doc, &change.hash),
        );
        let mut batch = ChangeBatch::default();
        batch.push(change.bytes, signature, &self.cert);
        PullOutcome::Changes {
            heads: vec![change.hash],
            batch,
            more: false,
        }
    }

    fn take_answer(
        &mut self,
        from: usize,
        server: AccountId,
        results: Vec<PullResult>,
        dir: &Directory,
        tick: u64,
    ) -> Vec<(usize, Msg)> {
        let mut out = Vec::new();
        let mut again = Vec::new();
        for result in results {
            let PullOutcome::Changes { heads, batch, more } = result.outcome else {
                continue;
            };
            let (owner, kind) = (result.owner, result.doc);
            if !self.wants(&owner) {
                continue;
            }
            let applied = self.apply(owner, kind, batch, tick);
            if let Some(doc) = self.docs.get_mut(&(owner, kind)) {
                let since = if self.inject == Inject::ForgetSince {
                    heads.clone()
                } else {
                    replication::progress(doc, &heads)
                };
                if self.inject == Inject::ForgetSince {
                    self.durable
                        .since
                        .insert((server, owner, kind), since.clone());
                }
                self.since.insert((server, owner, kind), since);
            }
            if more && applied > 0 {
                again.push(self.item(&server, owner, kind));
            }
            if applied > 0 {
                // Tell our own devices and friends a fresher copy is here.
                let heads = self
                    .docs
                    .get_mut(&(owner, kind))
                    .map(|d| d.heads())
                    .unwrap_or_default();
                for to in self.followers(dir) {
                    if to != from {
                        out.push((
                            to,
                            Msg::Announce {
                                owner,
                                doc: kind,
                                heads: heads.clone(),
                            },
                        ));
                    }
                }
            }
        }
        if !again.is_empty() {
            out.push((from, Msg::Pull(again)));
        }
        out
    }

    /// Verify and apply changes of `owner`'s document; how many applied.
    fn apply(&mut self, owner: AccountId, kind: DocKind, batch: ChangeBatch, tick: u64) -> usize {
        let revocations = self.revocations(&owner);
        let device = self.device.id();
        let doc = self
            .docs
            .entry((owner, kind))
            .or_insert_with(|| Doc::new(&device));
        let verified = if self.inject == Inject::NoVerify {
            unchecked(batch)
        } else {
            let cutoffs = Cutoffs::of(&revocations, kind);
            verify_new(&owner, kind, batch, &cutoffs, |h| doc.has_change(h)).0
        };
        let (ready, _) = replication::ready_changes(doc, verified);
        if ready.is_empty() {
            return 0;
        }
        let count = ready.len();
        let mut taken = Vec::new();
        for v in &ready {
            taken.push((v.change.hash, v.cert.clone(), v.signature));
        }
        if doc
            .apply(ready.into_iter().map(|v| v.change).collect())
            .is_err()
        {
            return 0;
        }
        for (hash, cert, signature) in taken {
            self.sigs
                .insert((owner, kind, hash), (cert.clone(), signature));
            self.fresh_sigs
                .push(((owner, kind, hash), (cert, signature)));
            self.arrivals.entry(hash).or_insert(tick);
        }
        self.touched(owner, kind);
        if kind == DocKind::Identity && self.revocations(&owner).len() > revocations.len() {
            self.enforce_revocations(&owner);
        }
        count
    }

    /// Own other devices and friends' devices: whom to tell of news.
    pub fn followers(&mut self, dir: &Directory) -> Vec<usize> {
        let mut accounts = self.friends();
        accounts.push(self.account);
        let mut out: Vec<usize> = accounts
            .iter()
            .flat_map(|a| dir.nodes_of(a))
            .filter(|n| *n != self.id)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Make the current state the durable one (sled's background flush).
    /// Only what changed since the last flush is written.
    pub fn flush(&mut self) {
        for key in std::mem::take(&mut self.dirty) {
            if let Some(doc) = self.docs.get_mut(&key)
                && let Ok(bytes) = doc.save()
            {
                self.durable.docs.insert(key, bytes);
            }
        }
        self.durable.sigs.extend(self.fresh_sigs.drain(..));
        self.durable.since.clone_from(&self.since);
    }

    /// Crash: everything not flushed is gone.
    pub fn crash(&mut self) {
        self.up = false;
        let device = self.device.id();
        self.docs = self
            .durable
            .docs
            .iter()
            .filter_map(|(k, bytes)| Some((*k, Doc::load(bytes, &device).ok()?)))
            .collect();
        for kind in DocKind::ALL {
            self.docs
                .entry((self.account, kind))
                .or_insert_with(|| Doc::new(&device));
        }
        self.sigs = self.durable.sigs.clone();
        self.since = self.durable.since.clone();
        self.dirty.clear();
        self.fresh_sigs.clear();
        self.friends_cache.clear();
        self.revocations_cache.clear();
    }

    /// Every document copy this node holds, by owner and kind.
    pub fn copies(&mut self) -> Vec<(Key, Vec<Hash>)> {
        self.docs
            .iter_mut()
            .map(|(k, d)| {
                (*k, {
                    let mut h = d.heads();
                    h.sort_unstable();
                    h
                })
            })
            .collect()
    }

    /// Debugging: each change of a copy, its author, and whether its stored signature verifies.
    pub fn debug_sigs(&mut self, owner: &AccountId, kind: DocKind) {
        for (hash, actor, seq) in self.changes_of(&(*owner, kind)) {
            let sig = self.sigs.get(&(*owner, kind, hash)).cloned();
            let ok = sig.as_ref().map(|(cert, s)| {
                kith_protocol::sync::check_signature(owner, kind, cert, &hash, s).is_ok()
            });
            let signer = sig.map(|(c, _)| c.device.fmt_short());
            eprintln!(
                "      change {} actor {} seq {seq}: sig ok {ok:?} by {signer:?} arrived {:?}",
                hex(&hash),
                hex(&actor[..4]),
                self.arrivals.get(&hash)
            );
        }
    }

    /// Pull progress recorded for `owner`'s document `kind`, per server (debugging).
    pub fn since_for(&self, owner: &AccountId, kind: DocKind) -> Vec<(AccountId, usize)> {
        self.since
            .iter()
            .filter(|((_, o, k), _)| o == owner && *k == kind)
            .map(|((s, _, _), h)| (*s, h.len()))
            .collect()
    }

    /// The changes of one copy (hash, author actor, sequence number).
    pub fn changes_of(&mut self, key: &Key) -> Vec<(Hash, Vec<u8>, u64)> {
        let Some(doc) = self.docs.get_mut(key) else {
            return Vec::new();
        };
        let Ok(changes) = doc.changes_since(&[]) else {
            return Vec::new();
        };
        changes
            .iter()
            .filter(|c| c.hash != kith_crdt::genesis_hash())
            .filter_map(|c| {
                let header = kith_crdt::guard::change_header(&c.bytes).ok()?;
                Some((c.hash, c.actor.clone(), header.seq))
            })
            .collect()
    }
}

/// The planted `no-verify` bug: every change that parses, believed as sent.
fn unchecked(batch: ChangeBatch) -> Vec<Verified> {
    batch
        .changes
        .into_iter()
        .filter_map(|signed| {
            let cert = batch.certs.get(usize::from(signed.cert))?.clone();
            let change = ParsedChange::parse(signed.bytes).ok()?;
            Some(Verified {
                change,
                signature: signed.signature,
                cert,
            })
        })
        .collect()
}

impl Holder for SimNode {
    fn doc(&mut self, owner: &AccountId, kind: DocKind) -> Option<&mut Doc> {
        self.docs.get_mut(&(*owner, kind))
    }

    fn signature(
        &mut self,
        owner: &AccountId,
        kind: DocKind,
        hash: &Hash,
    ) -> Option<(DeviceCert, Signature)> {
        self.sigs.get(&(*owner, kind, *hash)).cloned()
    }

    fn friends_of(&mut self, owner: &AccountId) -> Vec<AccountId> {
        if let Some(cached) = self.friends_cache.get(owner) {
            return cached.clone();
        }
        let list = self
            .docs
            .get(&(*owner, DocKind::Friends))
            .map(friends::accounts)
            .unwrap_or_default();
        self.friends_cache.insert(*owner, list.clone());
        list
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().take(4).map(|x| format!("{x:02x}")).collect()
}
