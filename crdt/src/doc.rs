//! `Doc`: an Automerge document as one device holds it (actor id = that device's public key).

use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc as _,
    transaction::Transactable as _,
};
use kith_keys::DeviceId;

use crate::{DocError, change::ParsedChange};

mod views;
pub(crate) use views::Accounts;
use views::Views;

/// A change hash: sha256 of the change's bytes, as Automerge computes it.
pub type Hash = [u8; 32];

/// A document as this device holds it. Every change it makes carries this
/// device's public key as the Automerge actor id.
#[derive(Debug, Clone)]
pub struct Doc {
    inner: AutoCommit,
    /// The heads at the last save or load: `save_incremental` writes what
    /// came after. Kept here because Automerge's own cursor starts empty
    /// after `load`, which would make the first save after a restart
    /// write the whole document again.
    saved: Vec<ChangeHash>,
    /// Typed views of the content, emptied by every method that can change
    /// it (through [`Doc::edit`]).
    views: Views,
}

/// The maps at the root of Kith's documents. Every document starts from the
/// same *genesis* change that creates them all, byte for byte, so two devices
/// that start a document independently never create competing root maps
/// (Automerge would keep one and hide the other's entries).
const ROOT_MAPS: [&str; 7] = [
    "blocked",
    "devices",
    "fields",
    "friends",
    "links",
    "posts",
    "revocations",
];

/// The genesis change: fixed actor (all zeros), time 0, the root maps.
fn genesis() -> Result<AutoCommit, DocError> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from([0u8; 32]));
    for key in ROOT_MAPS {
        doc.put_object(ROOT, key, ObjType::Map)?;
    }
    doc.commit_with(automerge::transaction::CommitOptions::default().with_time(0));
    Ok(doc)
}

/// The hash of the genesis change: every copy has it, so it is never sent
/// (and, having no certified author, would not verify if it were).
pub fn genesis_hash() -> Hash {
    static GENESIS: std::sync::OnceLock<Hash> = std::sync::OnceLock::new();
    *GENESIS.get_or_init(|| {
        genesis()
            .ok()
            .and_then(|mut d| d.get_heads().first().map(|h| h.0))
            .unwrap_or([0; 32])
    })
}

impl Doc {
    /// A new document written by `device`, holding only the genesis change.
    pub fn new(device: &DeviceId) -> Self {
        let inner = genesis().unwrap_or_else(|_| AutoCommit::new());
        Doc {
            inner: inner.with_actor(ActorId::from(device.as_bytes())),
            saved: Vec::new(),
            views: Views::default(),
        }
    }

    /// Load a whole document received from a peer: exactly one document
    /// chunk, within the [`guard`](crate::guard)'s limits, and causally
    /// complete (no change waiting for a missing dependency).
    pub fn from_peer(bytes: &[u8], device: &DeviceId) -> Result<Self, DocError> {
        crate::guard::check_document(bytes)?;
        let doc = Self::load(bytes, device)?;
        if !doc.inner.get_missing_deps(&[]).is_empty() {
            return Err(DocError::Corrupt(
                "the document holds changes whose dependencies are missing".into(),
            ));
        }
        Ok(doc)
    }

    /// Load saved bytes (a snapshot followed by any incremental saves) from
    /// this node's own store; new changes will be written by `device`.
    /// Bytes from peers go through [`Doc::from_peer`].
    pub fn load(bytes: &[u8], device: &DeviceId) -> Result<Self, DocError> {
        let inner =
            guarded(|| AutoCommit::load(bytes))??.with_actor(ActorId::from(device.as_bytes()));
        let mut doc = Doc {
            inner,
            saved: Vec::new(),
            views: Views::default(),
        };
        doc.saved = doc.inner.get_heads();
        Ok(doc)
    }

    /// The whole document, compacted. Reads of documents shaped by peers
    /// are guarded: an Automerge panic is an error, not a dead node.
    pub fn save(&mut self) -> Result<Vec<u8>, DocError> {
        let inner = &mut self.inner;
        let bytes = guarded(move || inner.save())?;
        self.saved = self.inner.get_heads();
        Ok(bytes)
    }

    /// The whole document, compacted, for sending; unlike [`Doc::save`] it
    /// leaves the incremental-save point where it was.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, DocError> {
        let inner = &mut self.inner;
        guarded(move || inner.document().save())
    }

    /// Merge in another copy of this document (loaded from a peer's
    /// snapshot). Done on a copy first, kept only if that succeeds.
    pub fn merge(&mut self, other: &mut Doc) -> Result<(), DocError> {
        let mut trial = self.inner.clone();
        let other = &mut other.inner;
        guarded(move || trial.merge(other).map(|_| trial))?
            .map(|trial| *self.edit() = trial)
            .map_err(DocError::from)
    }

    /// The actor id (author device) of a change this document holds.
    pub fn change_actor(&mut self, hash: &Hash) -> Option<Vec<u8>> {
        self.inner
            .get_change_meta_by_hash(&ChangeHash(*hash))
            .map(|m| m.actor.to_bytes().to_vec())
    }

    /// The changes since the last `save` or `save_incremental`.
    pub fn save_incremental(&mut self) -> Result<Vec<u8>, DocError> {
        let (inner, saved) = (&mut self.inner, &self.saved);
        let bytes = guarded(move || inner.document().save_after(saved))?;
        self.saved = self.inner.get_heads();
        Ok(bytes)
    }

    /// Append saved incremental bytes (from this node's own store, so they
    /// count as saved).
    pub fn load_incremental(&mut self, bytes: &[u8]) -> Result<(), DocError> {
        let mut trial = self.inner.clone();
        let loaded = guarded(move || trial.load_incremental(bytes).map(|_| trial))??;
        *self.edit() = loaded;
        self.saved = self.inner.get_heads();
        Ok(())
    }

    pub fn heads(&mut self) -> Vec<Hash> {
        self.inner.get_heads().into_iter().map(|h| h.0).collect()
    }

    pub fn has_change(&mut self, hash: &Hash) -> bool {
        // The change graph alone answers; `get_change_by_hash` would rebuild
        // the whole change from the op set (it dominated the simulator's
        // profile at 37%).
        self.inner
            .get_change_meta_by_hash(&ChangeHash(*hash))
            .is_some()
    }

    /// Every change the holder of `have` lacks. Hashes this document does not
    /// know are ignored (they are the other side's news, not ours).
    pub fn changes_since(&mut self, have: &[Hash]) -> Result<Vec<ParsedChange>, DocError> {
        let inner = &mut self.inner;
        guarded(move || {
            let known = known_hashes(inner, have);
            inner
                .get_changes(&known)
                .iter()
                .map(ParsedChange::from_change)
                .collect()
        })
    }

    /// The hashes of the changes [`Doc::changes_since`] would give, without
    /// building the changes: about a tenth of its cost (4 against 43 ms for
    /// 10,000 changes), for deciding how to answer before answering.
    pub fn hashes_since(&mut self, have: &[Hash]) -> Result<Vec<Hash>, DocError> {
        let inner = &mut self.inner;
        guarded(move || {
            let known = known_hashes(inner, have);
            inner
                .get_changes_meta(&known)
                .iter()
                .map(|m| m.hash.0)
                .collect()
        })
    }

    /// Run a read of this document (a typed view) so that an Automerge
    /// panic on a peer-shaped document yields `T::default()` instead of
    /// ending the node.
    pub(crate) fn read<T: Default>(&self, f: impl FnOnce(&Doc) -> T) -> T {
        guarded(|| f(self)).unwrap_or_default()
    }

    /// Hashes of every change written by `device`.
    pub fn changes_by(&mut self, device: &DeviceId) -> Vec<Hash> {
        let actor = ActorId::from(device.as_bytes());
        self.inner
            .get_changes_meta(&[])
            .iter()
            .filter(|m| *m.actor == actor)
            .map(|m| m.hash.0)
            .collect()
    }

    /// The sequence number of `device`'s last change here (0: none).
    pub fn max_seq_of(&mut self, device: &DeviceId) -> u64 {
        let actor = ActorId::from(device.as_bytes());
        let inner = &mut self.inner;
        guarded(move || {
            inner
                .get_changes_meta(&[])
                .iter()
                .filter(|m| *m.actor == actor)
                .map(|m| m.seq)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
    }

    /// Whether any change here is one `bad(actor, seq)` refuses.
    pub fn holds_any(&mut self, bad: impl Fn(&[u8], u64) -> bool) -> bool {
        let inner = &mut self.inner;
        guarded(move || {
            inner
                .get_changes_meta(&[])
                .iter()
                .any(|m| bad(m.actor.to_bytes(), m.seq))
        })
        .unwrap_or(true)
    }

    /// Rebuild the document without the changes `bad(actor, seq)` refuses
    /// and without everything that depends on them (a revocation learnt
    /// after the revoked device's late changes were applied). Returns how
    /// many changes went; every copy that does the same ends with the same
    /// heads. The caller stores the result whole.
    pub fn purge(&mut self, bad: impl Fn(&[u8], u64) -> bool) -> Result<usize, DocError> {
        let inner = &mut self.inner;
        let (keep, dropped) = guarded(move || {
            let mut dropped: std::collections::HashSet<ChangeHash> = Default::default();
            let mut keep = Vec::new();
            for m in inner.get_changes_meta(&[]) {
                if bad(m.actor.to_bytes(), m.seq) || m.deps.iter().any(|d| dropped.contains(d)) {
                    dropped.insert(m.hash);
                } else {
                    keep.push(m.hash);
                }
            }
            (keep, dropped.len())
        })?;
        if dropped == 0 {
            return Ok(0);
        }
        let genesis_change = ChangeHash(genesis_hash());
        let mut changes = Vec::with_capacity(keep.len());
        for hash in keep.iter().filter(|h| **h != genesis_change) {
            let change = self
                .inner
                .get_change_by_hash(hash)
                .ok_or_else(|| DocError::Corrupt("a change vanished while purging".into()))?;
            changes.push(change);
        }
        let actor = self.inner.get_actor().clone();
        let mut rebuilt = genesis()?.with_actor(actor);
        guarded(|| rebuilt.apply_changes(changes))??;
        *self.edit() = rebuilt;
        self.saved = Vec::new();
        Ok(dropped)
    }

    /// The change just committed by this device.
    pub fn last_local_change(&mut self) -> Option<ParsedChange> {
        self.inner
            .get_last_local_change()
            .map(|c| ParsedChange::from_change(&c))
    }

    /// Apply changes that the caller has verified, in place (copying the
    /// document first would cost as much as the document on every apply).
    /// Automerge can panic on hostile input: the panic is caught and
    /// reported, and the document may then be left part-way, so on any
    /// error the caller reloads it from its store. Changes whose
    /// dependencies are missing wait inside Automerge until they arrive.
    pub fn apply(&mut self, changes: Vec<ParsedChange>) -> Result<(), DocError> {
        let parsed: Result<Vec<Change>, DocError> =
            changes.into_iter().map(|c| c.into_change()).collect();
        let parsed = parsed?;
        let inner = self.edit();
        guarded(move || inner.apply_changes(parsed))??;
        Ok(())
    }

    /// The map at `ROOT[key]`, created if missing.
    pub(crate) fn root_map(&mut self, key: &str) -> Result<ObjId, DocError> {
        match self.inner.get(ROOT, key)? {
            Some((value, id)) if value.is_object() => Ok(id),
            _ => Ok(self.edit().put_object(ROOT, key, ObjType::Map)?),
        }
    }

    /// The map at `ROOT[key]` if it exists (read-only paths never create it).
    pub(crate) fn existing_root_map(&self, key: &str) -> Option<ObjId> {
        match self.inner.get(ROOT, key) {
            Ok(Some((value, id))) if value.is_object() => Some(id),
            _ => None,
        }
    }

    pub(crate) fn inner(&self) -> &AutoCommit {
        &self.inner
    }

    pub(crate) fn inner_mut(&mut self) -> &mut AutoCommit {
        self.edit()
    }

    /// The document for a change of its content: the views go first.
    fn edit(&mut self) -> &mut AutoCommit {
        self.views = Views::default();
        &mut self.inner
    }

    /// The typed views of the content as it is now.
    pub(crate) fn views(&self) -> &Views {
        &self.views
    }

    /// Drop the operations of the pending transaction.
    pub fn rollback(&mut self) {
        self.edit().rollback();
    }

    /// Close the pending transaction into one change; the change, if any.
    pub fn commit(&mut self) -> Option<ParsedChange> {
        self.inner.commit()?;
        self.last_local_change()
    }

    /// [`Doc::commit`] with the change's timestamp given (seconds), for
    /// reproducible histories (the simulator).
    pub fn commit_at(&mut self, time: i64) -> Option<ParsedChange> {
        self.inner
            .commit_with(automerge::transaction::CommitOptions::default().with_time(time))?;
        self.last_local_change()
    }
}

/// Of `have`, the hashes `inner` knows (the others are the other side's
/// news, not ours).
fn known_hashes(inner: &mut AutoCommit, have: &[Hash]) -> Vec<ChangeHash> {
    have.iter()
        .map(|h| ChangeHash(*h))
        .filter(|h| inner.get_change_meta_by_hash(h).is_some())
        .collect()
}

/// Run automerge on untrusted bytes: a panic becomes an error.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, DocError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| DocError::Corrupt("automerge panicked on this input".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_save_after_a_load_holds_only_the_new_change() {
        let device = kith_keys::DeviceKey::from_seed(&[7; 32]).id();
        let mut doc = Doc::new(&device);
        for i in 0..200 {
            crate::profile::set(&mut doc, "bio", &format!("bio-{i}")).unwrap();
            doc.commit();
        }
        let mut loaded = Doc::load(&doc.save().unwrap(), &device).unwrap();
        crate::profile::set(&mut loaded, "bio", "after").unwrap();
        let change = loaded.commit().unwrap();
        assert_eq!(loaded.save_incremental().unwrap(), change.bytes);
        assert!(loaded.save_incremental().unwrap().is_empty());
    }
}

#[cfg(test)]
mod has_change_tests {
    use super::*;

    #[test]
    fn has_change_knows_every_change_after_load_and_apply() {
        let device = kith_keys::DeviceKey::from_seed(&[7; 32]).id();
        let mut doc = Doc::new(&device);
        let mut hashes = Vec::new();
        for i in 0..50 {
            crate::profile::set(&mut doc, "bio", &format!("bio-{i}")).unwrap();
            hashes.push(doc.commit().unwrap().hash);
        }
        assert!(hashes.iter().all(|h| doc.has_change(h)), "own");
        let mut loaded = Doc::load(&doc.save().unwrap(), &device).unwrap();
        let missing: Vec<usize> = (0..hashes.len())
            .filter(|i| !loaded.has_change(&hashes[*i]))
            .collect();
        assert!(missing.is_empty(), "loaded: {missing:?}");
        let other = kith_keys::DeviceKey::from_seed(&[8; 32]).id();
        let mut copy = Doc::new(&other);
        copy.apply(
            doc.changes_since(&[])
                .unwrap()
                .into_iter()
                .filter(|c| c.hash != genesis_hash())
                .collect(),
        )
        .unwrap();
        let missing: Vec<usize> = (0..hashes.len())
            .filter(|i| !copy.has_change(&hashes[*i]))
            .collect();
        assert!(missing.is_empty(), "applied: {missing:?}");
        assert!(!copy.has_change(&[3; 32]));
    }
}
