//! Documents on the actor side: the open copies, local edits (commit, sign,
//! store, announce) and remote changes (verify, apply, store).

use std::collections::{BTreeMap, HashMap};

use kith_crdt::Hash;
use kith_crdt::{Doc, DocError, DocKind, profile};
use kith_keys::{AccountId, DeviceId, sign::Context};
use kith_protocol::sync::{
    ChangeBatch, ChangeSignatures, Cutoffs, MAX_INLINE_CHANGES, change_payload, open_document,
    verify_batch, verify_new,
};

use super::{
    NodeActor,
    gossip::{Origin, inline_batch},
};
use crate::refusal::ProfileRefusal;
use crate::{
    events::Event,
    node::NodeError,
    store::{COMPACT_AFTER, Store},
};

/// Others' documents (friends', followed accounts') held in memory at
/// most. Each is tens of KiB in Automerge (about 47 KiB for a friend's
/// small document, from a heap profile of a daemon with 150 friends), so
/// a node with many friends would hold them all for ever; past this, the
/// least recently used goes back to its store, where every applied change
/// already is, and is loaded again on its next use.
pub const MAX_OPEN_DOCS: usize = 64;

/// The documents this node holds: its own account's, always loaded, and
/// others' copies, loaded on first use and kept while recently used.
#[derive(Debug)]
pub(super) struct Docs {
    /// One per `DocKind::ALL`, in that order.
    own: Vec<Doc>,
    others: HashMap<(AccountId, DocKind), OpenDoc>,
    /// Counts uses of `others`, for choosing which to drop.
    uses: u64,
}

/// One of others' documents in memory, with when it was last used.
#[derive(Debug)]
struct OpenDoc {
    doc: Doc,
    used: u64,
}

fn slot(kind: DocKind) -> usize {
    DocKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Load a document from its saves; a damaged piece is reported by name and
/// skipped, never silently dropped.
fn load(store: &Store, device: &DeviceId, owner: &AccountId, kind: DocKind) -> Option<Doc> {
    let saved = match store.load_saved_doc(owner, kind) {
        Ok(saved) => saved?,
        Err(e) => {
            tracing::error!(%owner, doc = %kind, error = %e, "cannot read a document");
            return None;
        }
    };
    // Fast path: the snapshot and every incremental save in one load.
    if let Some(snapshot) = &saved.snapshot {
        let mut all = snapshot.clone();
        for incremental in &saved.incrementals {
            all.extend_from_slice(incremental);
        }
        if let Ok(doc) = Doc::load(&all, device) {
            return Some(doc);
        }
    }
    // Piece by piece, so a damaged piece is named and the rest kept.
    let mut doc = match saved.snapshot.as_deref().map(|s| Doc::load(s, device)) {
        Some(Ok(doc)) => doc,
        Some(Err(e)) => {
            tracing::error!(%owner, doc = %kind, error = %e, "a document snapshot is corrupt; skipping it");
            Doc::new(device)
        }
        None => Doc::new(device),
    };
    for (i, incremental) in saved.incrementals.iter().enumerate() {
        if let Err(e) = doc.load_incremental(incremental) {
            tracing::error!(%owner, doc = %kind, piece = i, error = %e, "an incremental save is corrupt; skipping it");
        }
    }
    Some(doc)
}

impl Docs {
    pub fn load_own(store: &Store, device: &DeviceId, me: &AccountId) -> Self {
        let own = DocKind::ALL
            .into_iter()
            .map(|kind| load(store, device, me, kind).unwrap_or_else(|| Doc::new(device)))
            .collect();
        Docs {
            own,
            others: HashMap::new(),
            uses: 0,
        }
    }

    /// Another account's document, if it is in memory (marked as used).
    fn other_mut(&mut self, key: &(AccountId, DocKind)) -> Option<&mut Doc> {
        self.uses += 1;
        let open = self.others.get_mut(key)?;
        open.used = self.uses;
        Some(&mut open.doc)
    }

    /// Hold another account's document in memory, first dropping the least
    /// recently used one if [`MAX_OPEN_DOCS`] are held.
    fn open_other(&mut self, key: (AccountId, DocKind), doc: Doc) -> &mut Doc {
        if self.others.len() >= MAX_OPEN_DOCS && !self.others.contains_key(&key) {
            let oldest = self
                .others
                .iter()
                .min_by_key(|(_, open)| open.used)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.others.remove(&oldest);
            }
        }
        self.uses += 1;
        let used = self.uses;
        let open = self.others.entry(key).or_insert(OpenDoc { doc, used });
        open.used = used;
        &mut open.doc
    }

    /// Forget the in-memory copy of another account's document (loaded
    /// again from the store on its next use).
    fn close_other(&mut self, key: &(AccountId, DocKind)) {
        self.others.remove(key);
    }

    /// One of this account's documents (always present).
    pub fn own(&self, kind: DocKind) -> &Doc {
        &self.own[slot(kind)]
    }

    pub(super) fn own_mut(&mut self, kind: DocKind) -> &mut Doc {
        &mut self.own[slot(kind)]
    }
}

impl NodeActor {
    /// This node's copy of someone's document, loaded on first use.
    pub(super) fn doc_mut(&mut self, owner: &AccountId, kind: DocKind) -> Option<&mut Doc> {
        if *owner == self.identity.account() {
            return Some(self.docs.own_mut(kind));
        }
        let key = (*owner, kind);
        if self.docs.other_mut(&key).is_none() {
            let doc = load(&self.store, &self.identity.device(), owner, kind)?;
            return Some(self.docs.open_other(key, doc));
        }
        self.docs.other_mut(&key)
    }

    /// A read-only view of a document this node holds (own or loaded).
    pub(super) fn doc_ref(&mut self, owner: &AccountId, kind: DocKind) -> Option<&Doc> {
        self.doc_mut(owner, kind).map(|d| &*d)
    }

    /// Change one of this account's documents: `edit` makes the operations,
    /// then the change is committed, signed, stored durably and announced.
    /// An edit that fails changes nothing.
    pub(super) fn edit_own<R>(
        &mut self,
        kind: DocKind,
        edit: impl FnOnce(&mut Doc) -> Result<R, DocError>,
    ) -> Result<R, NodeError> {
        let me = self.identity.account();
        let doc = self.docs.own_mut(kind);
        let before = profile::fields(doc);
        let result = match edit(doc) {
            Ok(r) => r,
            Err(e) => {
                doc.rollback();
                return Err(limit_or_store(e));
            }
        };
        let Some(change) = doc.commit() else {
            return Ok(result);
        };
        let signature = self.identity.device_key.sign(
            Context::DocumentChange,
            &change_payload(&me, kind, &change.hash),
        );
        let incremental = match doc.save_incremental() {
            Ok(bytes) => bytes,
            Err(e) => {
                self.reload(me, kind);
                return Err(e.into());
            }
        };
        let after = profile::fields(doc);
        let heads = doc.heads();
        // The user is told "saved" only after this flush.
        let stored = self
            .store
            .append_doc(
                &me,
                kind,
                &incremental,
                &[(change.hash, self.identity.cert.clone(), signature)],
            )
            .and_then(|count| self.store.flush().map(|()| count));
        match stored {
            Ok(count) if count > COMPACT_AFTER => self.compact(&me, kind),
            Ok(_) => {}
            Err(e) => {
                // Not durable: drop the in-memory change too, so memory and disk agree.
                self.reload(me, kind);
                return Err(e.into());
            }
        }
        let mut batch = ChangeBatch::default();
        batch.push(change.bytes, signature, &self.identity.cert);
        self.announce(me, kind, heads, inline_batch(kind, batch));
        self.emit(Event::DocUpdated {
            owner: me,
            doc: kind.as_str().into(),
            fields: changed_fields(&before, &after),
        });
        Ok(result)
    }

    /// Verify and apply changes of `owner`'s document received from a peer.
    pub(super) fn apply_remote(
        &mut self,
        owner: AccountId,
        kind: DocKind,
        batch: ChangeBatch,
        origin: Origin,
    ) -> Result<Applied, NodeError> {
        let revocations = self.revocations_of(&owner);
        let cutoffs = Cutoffs::of(&revocations, kind);
        let remote = self.open_remote(owner, kind);
        // Changes this copy already has (the same change relayed by several
        // peers) are dropped on their header, before any signature check.
        let (good, bad) = match self.doc_mut(&owner, kind) {
            Some(doc) => verify_new(&owner, kind, batch, &cutoffs, |h| doc.has_change(h)),
            None => verify_batch(&owner, kind, batch, &cutoffs),
        };
        self.replication.rejected += bad.len() as u64;
        for rejected in &bad {
            tracing::warn!(%owner, doc = %kind, reason = %rejected.reason, "rejected a document change");
        }
        let mut applied = Applied {
            new: false,
            forged: bad.iter().filter(|r| !r.revoked).count(),
        };
        let Some(doc) = self.doc_mut(&owner, kind) else {
            return Ok(applied);
        };
        // Only changes whose every dependency is here or among the accepted
        // ones: nothing is ever left waiting in Automerge's queue, where a
        // change that depends on a refused one (past a revocation) would
        // wait forever and the copies would differ. What is left out comes
        // again with its dependencies.
        let (fresh, left_out) = kith_protocol::replication::ready_changes(doc, good);
        if fresh.is_empty() || (origin == Origin::Gossip && left_out > 0) {
            return Ok(applied);
        }
        let signatures: Vec<_> = fresh
            .iter()
            .map(|v| (v.change.hash, v.cert.clone(), v.signature))
            .collect();
        let mut relayed = ChangeBatch::default();
        if origin == Origin::Pull && kind.is_public() && fresh.len() <= MAX_INLINE_CHANGES {
            for v in &fresh {
                relayed.push(v.change.bytes.clone(), v.signature, &v.cert);
            }
        }
        if let Err(e) = doc.apply(fresh.into_iter().map(|v| v.change).collect()) {
            tracing::warn!(%owner, doc = %kind, error = %e, "could not apply verified changes");
            self.reload(owner, kind);
            return Ok(applied);
        }
        let announce = (origin == Origin::Pull).then(|| inline_batch(kind, relayed));
        self.store_remote(remote, &signatures, announce)?;
        applied.new = true;
        Ok(applied)
    }

    /// Verify and merge a whole document received from a peer (see
    /// `PullOutcome::Document`). Returns its heads if it was valid.
    pub(super) fn apply_document(
        &mut self,
        owner: AccountId,
        kind: DocKind,
        bytes: &[u8],
        signed: &ChangeSignatures,
    ) -> Result<Option<Vec<Hash>>, NodeError> {
        let revocations = self.revocations_of(&owner);
        let checked = open_document(
            &owner,
            kind,
            bytes,
            signed,
            &Cutoffs::of(&revocations, kind),
            &self.identity.device(),
        );
        let (mut incoming, vouched) = match checked {
            Ok(ok) => ok,
            Err(reason) => {
                self.replication.rejected += 1;
                tracing::warn!(%owner, doc = %kind, %reason, "rejected a document");
                return Ok(None);
            }
        };
        let heads = incoming.heads();
        let remote = self.open_remote(owner, kind);
        let Some(doc) = self.doc_mut(&owner, kind) else {
            return Ok(None);
        };
        if heads.iter().all(|h| doc.has_change(h)) {
            return Ok(Some(heads));
        }
        // An untouched copy is replaced outright, and the received bytes
        // become its stored snapshot: no change-by-change merge, and no
        // uncompressed re-save of them all.
        let untouched = doc.heads() == [kith_crdt::genesis_hash()];
        if untouched {
            *doc = incoming;
            self.store.compact_doc(&owner, kind, bytes)?;
        } else if let Err(e) = doc.merge(&mut incoming) {
            tracing::warn!(%owner, doc = %kind, error = %e, "could not merge a verified document");
            return Ok(None);
        }
        self.store_remote(remote, &vouched, Some(None))?;
        Ok(Some(heads))
    }

    /// Before applying remote changes: load (or start) the copy, and note
    /// what the tail of the apply compares against.
    fn open_remote(&mut self, owner: AccountId, kind: DocKind) -> RemoteApply {
        if owner != self.identity.account() && self.docs.other_mut(&(owner, kind)).is_none() {
            let doc = load(&self.store, &self.identity.device(), &owner, kind)
                .unwrap_or_else(|| Doc::new(&self.identity.device()));
            self.docs.open_other((owner, kind), doc);
        }
        let own_identity = owner == self.identity.account() && kind == DocKind::Identity;
        let revocations_before =
            (kind == DocKind::Identity).then(|| self.revocations_of(&owner).len());
        RemoteApply {
            owner,
            kind,
            revocations_before,
            devices_before: own_identity.then(|| self.device_list()),
            fields_before: self
                .doc_ref(&owner, kind)
                .map(profile::fields)
                .unwrap_or_default(),
        }
    }

    /// After applying remote changes: store them with their signatures,
    /// tell local listeners, and (if `announce`) tell followers, with the
    /// given changes inline.
    fn store_remote(
        &mut self,
        applied: RemoteApply,
        signatures: &[(Hash, kith_keys::DeviceCert, kith_keys::Signature)],
        announce: Option<Option<ChangeBatch>>,
    ) -> Result<(), NodeError> {
        let RemoteApply {
            owner,
            kind,
            revocations_before,
            devices_before,
            fields_before,
        } = applied;
        let Some(doc) = self.doc_mut(&owner, kind) else {
            return Ok(());
        };
        let incremental = match doc.save_incremental() {
            Ok(bytes) => bytes,
            Err(e) => {
                // Not stored: drop the copy in memory, as a failed apply does.
                self.reload(owner, kind);
                return Err(e.into());
            }
        };
        let after = profile::fields(doc);
        let heads = doc.heads();
        let count = self
            .store
            .append_doc(&owner, kind, &incremental, signatures)?;
        if count > COMPACT_AFTER {
            self.compact(&owner, kind);
        }
        tracing::debug!(%owner, doc = %kind, "applied remote changes");
        self.emit(Event::DocUpdated {
            owner,
            doc: kind.as_str().into(),
            fields: changed_fields(&fields_before, &after),
        });
        // Tell others who follow this account that a fresh copy is here.
        if let Some(inline) = announce {
            self.announce(owner, kind, heads, inline);
        }
        if let Some(before) = devices_before {
            self.note_identity_changes(&before);
        }
        if let Some(before) = revocations_before {
            self.enforce_revocations(owner, before);
        }
        Ok(())
    }

    /// Back to the stored state of a document (after a failed apply left
    /// the copy in memory part-way).
    fn reload(&mut self, owner: AccountId, kind: DocKind) {
        let device = self.identity.device();
        if owner == self.identity.account() {
            *self.docs.own_mut(kind) =
                load(&self.store, &device, &owner, kind).unwrap_or_else(|| Doc::new(&device));
        } else {
            // Loaded again from the store on next use.
            self.docs.close_other(&(owner, kind));
        }
    }

    pub(super) fn compact(&mut self, owner: &AccountId, kind: DocKind) {
        let Some(doc) = self.doc_mut(owner, kind) else {
            return;
        };
        let compacted = doc
            .save()
            .map_err(NodeError::from)
            .and_then(|snapshot| Ok(self.store.compact_doc(owner, kind, &snapshot)?));
        if let Err(e) = compacted {
            tracing::error!(%owner, doc = %kind, error = %e, "compaction failed (the document is intact)");
        }
    }
}

/// What came of a batch of remote changes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Applied {
    /// Something new was applied.
    pub new: bool,
    /// Changes refused as malformed or forged (not merely revoked).
    pub forged: usize,
}

/// What applying remote changes started from, for the shared tail.
pub(super) struct RemoteApply {
    owner: AccountId,
    kind: DocKind,
    /// For an identity document: how many revocations it held before.
    revocations_before: Option<usize>,
    devices_before: Option<Vec<crate::node::DeviceInfo>>,
    fields_before: BTreeMap<String, String>,
}

fn limit_or_store(e: DocError) -> NodeError {
    match e {
        DocError::Limit(message) => NodeError::refused(ProfileRefusal::InvalidField, message),
        other => NodeError::Store(other.to_string()),
    }
}

fn changed_fields(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut changed: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    changed.extend(before.keys().filter(|k| !after.contains_key(*k)).cloned());
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(i: usize) -> AccountId {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
        kith_keys::AccountKey::from_seed(&seed).id()
    }

    /// Others' documents stay within `MAX_OPEN_DOCS`; the one dropped is
    /// the least recently used, and a document just used stays.
    #[test]
    fn open_documents_are_bounded_and_the_least_recently_used_goes() {
        let device = kith_keys::DeviceKey::from_seed(&[7; 32]).id();
        let mut docs = Docs {
            own: Vec::new(),
            others: HashMap::new(),
            uses: 0,
        };
        for i in 0..MAX_OPEN_DOCS {
            docs.open_other((account(i), DocKind::Profile), Doc::new(&device));
        }
        // The first is used again: the second is now the oldest.
        assert!(docs.other_mut(&(account(0), DocKind::Profile)).is_some());
        docs.open_other(
            (account(MAX_OPEN_DOCS), DocKind::Profile),
            Doc::new(&device),
        );
        assert_eq!(docs.others.len(), MAX_OPEN_DOCS);
        assert!(docs.other_mut(&(account(0), DocKind::Profile)).is_some());
        assert!(docs.other_mut(&(account(1), DocKind::Profile)).is_none());
        assert!(
            docs.other_mut(&(account(MAX_OPEN_DOCS), DocKind::Profile))
                .is_some()
        );
        // Opening one already held replaces nothing else.
        docs.open_other((account(2), DocKind::Profile), Doc::new(&device));
        assert_eq!(docs.others.len(), MAX_OPEN_DOCS);
        assert!(docs.other_mut(&(account(3), DocKind::Profile)).is_some());
        docs.close_other(&(account(3), DocKind::Profile));
        assert_eq!(docs.others.len(), MAX_OPEN_DOCS - 1);
    }
}
