//! Replication decisions, sans-IO: what a server answers to a pull, which
//! received changes a copy may take, and how far a pull got.
//!
//! The node's actor and the deterministic simulator (`kith-sim`) call the
//! same functions, over their own storage, through [`Holder`]: what the
//! simulator checks under partitions, loss and crashes is the code the
//! daemon runs.

use kith_crdt::{Doc, DocKind, Hash};
use kith_keys::{AccountId, DeviceCert, Signature};

use crate::sync::{
    ChangeBatch, DOCUMENT_AFTER_CHANGES, MAX_HEADS, PullItem, PullOutcome, Verified, may_read,
};

/// What a server holds: document copies, and the signatures of their changes.
pub trait Holder {
    /// This holder's copy of `owner`'s document `kind`, if it has one.
    fn doc(&mut self, owner: &AccountId, kind: DocKind) -> Option<&mut Doc>;
    /// The signature of change `hash`, if this holder has it (changes held
    /// only as part of a signed whole document have none).
    fn signature(
        &mut self,
        owner: &AccountId,
        kind: DocKind,
        hash: &Hash,
    ) -> Option<(DeviceCert, Signature)>;
    /// `owner`'s friends, as this holder's copy of its friends document says.
    fn friends_of(&mut self, owner: &AccountId) -> Vec<AccountId>;
}

/// Room a change takes in an answer beyond its bytes (signature, index).
const CHANGE_OVERHEAD: usize = 72;

/// The serving rule: may `requester` (`None`: not proven, or revoked) read
/// `owner`'s document `kind`, by this holder's knowledge of `owner`'s friends?
pub fn allowed(
    holder: &mut impl Holder,
    requester: Option<&AccountId>,
    owner: &AccountId,
    kind: DocKind,
) -> bool {
    if kind.is_public() {
        return true;
    }
    let Some(requester) = requester else {
        return false;
    };
    if requester == owner {
        return true;
    }
    let friends = holder.friends_of(owner);
    may_read(kind, owner, requester, &friends)
}

/// A server's answer to one pull item, before any whole-document form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// The answer, complete.
    Outcome(PullOutcome),
    /// The requester lacks at least [`DOCUMENT_AFTER_CHANGES`] changes, or
    /// some lack their own signature: answer with the whole document if it
    /// fits; otherwise with [`changes_answer`]. Nothing is charged to the
    /// budget here: a whole document must be weighed against the budget as
    /// it was, not after the fallback it replaces (that made every catch-up
    /// of a stranger's copy go change by change, a `Busy` apart, found by
    /// `kith-bench` B3). And the fallback is not built here either: for a
    /// far-behind requester, building every change with its signature only
    /// to throw it away took longer than the whole answer (B3).
    WholeWanted,
}

/// Answer one pull item within `budget` bytes: the serving rule, then the
/// changes the requester lacks (those not ancestors of `heads ∪ since`),
/// each with its signature, in causal order, stopping at the budget.
pub fn serve_item(
    holder: &mut impl Holder,
    requester: Option<&AccountId>,
    item: &PullItem,
    budget: &mut usize,
) -> Served {
    if !allowed(holder, requester, &item.owner, item.doc) {
        return Served::Outcome(PullOutcome::Denied);
    }
    let Some(doc) = holder.doc(&item.owner, item.doc) else {
        return Served::Outcome(PullOutcome::Unknown);
    };
    let genesis = kith_crdt::genesis_hash();
    let Ok(missing) = doc.hashes_since(&have(item)) else {
        return Served::Outcome(PullOutcome::Unknown);
    };
    if missing.iter().filter(|h| **h != genesis).count() >= DOCUMENT_AFTER_CHANGES {
        return Served::WholeWanted;
    }
    match changes(holder, item, *budget) {
        None => Served::Outcome(PullOutcome::Unknown),
        Some((_, _, true)) => Served::WholeWanted,
        Some((outcome, left, false)) => {
            *budget = left;
            Served::Outcome(outcome)
        }
    }
}

/// The change-by-change answer to an item [`serve_item`] allowed and
/// wanted whole, when the whole document cannot go: the changes that have
/// their signatures, within `budget` (charged).
pub fn changes_answer(
    holder: &mut impl Holder,
    item: &PullItem,
    budget: &mut usize,
) -> PullOutcome {
    match changes(holder, item, *budget) {
        Some((outcome, left, _)) => {
            *budget = left;
            outcome
        }
        None => PullOutcome::Unknown,
    }
}

/// What the requester of `item` has: its heads and what it got since.
fn have(item: &PullItem) -> Vec<Hash> {
    let mut have: Vec<Hash> = item.heads.iter().take(MAX_HEADS).copied().collect();
    have.extend(item.since.iter().take(MAX_HEADS));
    have
}

/// The changes the requester of `item` lacks, each with its signature, in
/// causal order, within `budget`: the answer, the budget left, and whether
/// some change had no signature of its own (and was left out).
fn changes(
    holder: &mut impl Holder,
    item: &PullItem,
    budget: usize,
) -> Option<(PullOutcome, usize, bool)> {
    let doc = holder.doc(&item.owner, item.doc)?;
    let changes = doc.changes_since(&have(item)).ok()?;
    let heads = doc.heads();
    let genesis = kith_crdt::genesis_hash();
    let mut batch = ChangeBatch::default();
    let mut more = false;
    let mut unsigned = false;
    let mut left = budget;
    for change in changes.into_iter().filter(|c| c.hash != genesis) {
        if change.bytes.len() + CHANGE_OVERHEAD > left {
            more = true;
            break;
        }
        match holder.signature(&item.owner, item.doc, &change.hash) {
            Some((cert, signature)) => {
                left -= change.bytes.len() + CHANGE_OVERHEAD;
                batch.push(change.bytes, signature, &cert);
            }
            None => unsigned = true,
        }
    }
    Some((PullOutcome::Changes { heads, batch, more }, left, unsigned))
}

/// Of verified changes (in the causal order they came in), those a copy
/// holding `doc` can apply now: each one's dependencies are in the copy or
/// among those taken before it. What depends on a refused change stays out,
/// so no change ever waits in Automerge's queue. Returns them and how many
/// were left out.
pub fn ready_changes(doc: &mut Doc, verified: Vec<Verified>) -> (Vec<Verified>, usize) {
    let mut taken: std::collections::HashSet<Hash> = std::collections::HashSet::new();
    let mut ready = Vec::new();
    let mut left = 0;
    for v in verified {
        if doc.has_change(&v.change.hash) {
            continue;
        }
        let complete = v
            .change
            .deps
            .iter()
            .all(|d| taken.contains(d) || doc.has_change(d));
        if complete {
            taken.insert(v.change.hash);
            ready.push(v);
        } else {
            left += 1;
        }
    }
    (ready, left)
}

/// How far a pull from a server got: the server's heads this copy now
/// holds (with all their history). A change refused, not applied, or left
/// out for a missing dependency keeps its head out, so the next pull asks
/// from before it and the server sends it again.
pub fn progress(doc: &mut Doc, server_heads: &[Hash]) -> Vec<Hash> {
    server_heads
        .iter()
        .filter(|h| doc.has_change(h))
        .take(MAX_HEADS)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{Cutoffs, change_payload, verify_batch};
    use kith_crdt::profile;
    use kith_keys::{AccountKey, DeviceKey, sign::Context};
    use std::collections::HashMap;

    struct Mem {
        docs: HashMap<(AccountId, DocKind), Doc>,
        sigs: HashMap<Hash, (DeviceCert, Signature)>,
        friends: Vec<AccountId>,
    }

    impl Holder for Mem {
        fn doc(&mut self, owner: &AccountId, kind: DocKind) -> Option<&mut Doc> {
            self.docs.get_mut(&(*owner, kind))
        }
        fn signature(
            &mut self,
            _: &AccountId,
            _: DocKind,
            hash: &Hash,
        ) -> Option<(DeviceCert, Signature)> {
            self.sigs.get(hash).cloned()
        }
        fn friends_of(&mut self, _: &AccountId) -> Vec<AccountId> {
            self.friends.clone()
        }
    }

    fn owner_with_edits(n: usize) -> (AccountKey, Mem, Vec<Hash>) {
        let account = AccountKey::from_seed(&[1; 32]);
        let device = DeviceKey::from_seed(&[2; 32]);
        let cert = DeviceCert::issue(&account, device.id(), "d", 1).unwrap();
        let mut doc = Doc::new(&device.id());
        let mut sigs = HashMap::new();
        let mut hashes = Vec::new();
        for i in 0..n {
            profile::set(&mut doc, "bio", &format!("v{i}")).unwrap();
            let c = doc.commit().unwrap();
            let s = device.sign(
                Context::DocumentChange,
                &change_payload(&account.id(), DocKind::ProfilePrivate, &c.hash),
            );
            sigs.insert(c.hash, (cert.clone(), s));
            hashes.push(c.hash);
        }
        let mut docs = HashMap::new();
        docs.insert((account.id(), DocKind::ProfilePrivate), doc);
        (
            account,
            Mem {
                docs,
                sigs,
                friends: vec![],
            },
            hashes,
        )
    }

    #[test]
    fn serving_follows_the_rule_and_the_budget() {
        let (account, mut mem, _) = owner_with_edits(3);
        let friend = AccountKey::from_seed(&[9; 32]).id();
        let item = PullItem {
            owner: account.id(),
            doc: DocKind::ProfilePrivate,
            heads: vec![],
            since: vec![],
        };
        let mut budget = 1 << 20;
        assert_eq!(
            serve_item(&mut mem, Some(&friend), &item, &mut budget),
            Served::Outcome(PullOutcome::Denied)
        );
        assert_eq!(
            serve_item(&mut mem, None, &item, &mut budget),
            Served::Outcome(PullOutcome::Denied)
        );
        mem.friends = vec![friend];
        let Served::Outcome(PullOutcome::Changes { batch, more, .. }) =
            serve_item(&mut mem, Some(&friend), &item, &mut budget)
        else {
            panic!("a friend is served changes");
        };
        assert_eq!((batch.changes.len(), more), (3, false));
        let mut tight = 300;
        let Served::Outcome(PullOutcome::Changes { batch, more, .. }) =
            serve_item(&mut mem, Some(&friend), &item, &mut tight)
        else {
            panic!("changes");
        };
        assert!(more && batch.changes.len() < 3);
        // A change held without its own signature asks for the whole document.
        let (_, mut unsigned, hashes) = owner_with_edits(2);
        unsigned.sigs.remove(&hashes[0]);
        unsigned.friends = vec![friend];
        let mut budget = 1 << 20;
        let Served::WholeWanted = serve_item(&mut unsigned, Some(&friend), &item, &mut budget)
        else {
            panic!("whole document wanted");
        };
        // The whole document is weighed against the budget as it was; the
        // fallback's cost is charged only when the fallback is sent.
        assert_eq!(
            budget,
            1 << 20,
            "a whole-document answer was charged for its fallback"
        );
        let PullOutcome::Changes { batch, .. } = changes_answer(&mut unsigned, &item, &mut budget)
        else {
            panic!("changes");
        };
        assert_eq!(
            batch.changes.len(),
            1,
            "the signed change goes, the unsigned one not"
        );
        assert!(1 << 20 >= budget + batch.changes.iter().map(|c| c.bytes.len()).sum::<usize>());
    }

    /// From `DOCUMENT_AFTER_CHANGES` missing changes on, the whole document
    /// is wanted, decided from the hashes alone (no change built, nothing
    /// charged); one fewer is answered change by change.
    #[test]
    fn a_far_behind_requester_is_answered_whole() {
        let (account, mut mem, hashes) = owner_with_edits(DOCUMENT_AFTER_CHANGES + 1);
        let owner = account.id();
        let mut item = PullItem {
            owner,
            doc: DocKind::ProfilePrivate,
            heads: vec![],
            since: vec![],
        };
        let mut budget = 1 << 20;
        assert_eq!(
            serve_item(&mut mem, Some(&owner), &item, &mut budget),
            Served::WholeWanted
        );
        assert_eq!(budget, 1 << 20);
        // Holding the first two changes leaves one fewer than the threshold.
        item.heads = vec![hashes[1]];
        let Served::Outcome(PullOutcome::Changes { batch, more, .. }) =
            serve_item(&mut mem, Some(&owner), &item, &mut budget)
        else {
            panic!("changes");
        };
        assert_eq!(
            (batch.changes.len(), more),
            (DOCUMENT_AFTER_CHANGES - 1, false)
        );
        assert!(budget < 1 << 20);
        // The fallback is the whole change-by-change answer.
        item.heads = vec![];
        let PullOutcome::Changes { batch, .. } = changes_answer(&mut mem, &item, &mut budget)
        else {
            panic!("changes");
        };
        assert_eq!(batch.changes.len(), DOCUMENT_AFTER_CHANGES + 1);
    }

    #[test]
    fn only_ready_changes_are_taken_and_progress_never_skips() {
        let (account, mut mem, hashes) = owner_with_edits(3);
        let item = PullItem {
            owner: account.id(),
            doc: DocKind::ProfilePrivate,
            heads: vec![],
            since: vec![],
        };
        let mut budget = 1 << 20;
        let Served::Outcome(PullOutcome::Changes { batch, heads, .. }) =
            serve_item(&mut mem, Some(&account.id()), &item, &mut budget)
        else {
            panic!("changes");
        };
        let (mut good, bad) = verify_batch(
            &account.id(),
            DocKind::ProfilePrivate,
            batch,
            &Cutoffs::default(),
        );
        assert!(bad.is_empty());
        // The middle change is lost on the way: the last cannot be taken.
        good.remove(1);
        let mut copy = Doc::new(&DeviceKey::from_seed(&[3; 32]).id());
        let (ready, left) = ready_changes(&mut copy, good);
        assert_eq!((ready.len(), left), (1, 1));
        copy.apply(ready.into_iter().map(|v| v.change).collect())
            .unwrap();
        assert!(copy.has_change(&hashes[0]));
        // The server's head is not held: progress stays short of it.
        assert!(progress(&mut copy, &heads).is_empty());
    }
}
