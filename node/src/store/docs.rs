//! Documents: snapshots, incremental saves, change signatures, author
//! certificates and per-peer sync state.
//!
//! Keys: `owner (32) || doc code (1)` names a document; incrementals append
//! `seq (u64 BE)`, signatures append the change hash (32). A document is its
//! snapshot followed by its incrementals in order; compaction writes a new
//! snapshot and drops the incrementals.

use kith_crdt::{DocKind, Hash};
use kith_keys::{AccountId, DeviceCert, DeviceId, Signature};

use super::{Store, StoreError, Tree};

/// Incremental saves kept before a document is compacted into a new snapshot.
pub const COMPACT_AFTER: usize = 256;

fn doc_key(owner: &AccountId, kind: DocKind) -> Vec<u8> {
    let mut key = owner.as_bytes().to_vec();
    key.push(kind.code());
    key
}

/// A saved document: snapshot and the incremental saves after it.
#[derive(Debug, Default)]
pub struct SavedDoc {
    pub snapshot: Option<Vec<u8>>,
    pub incrementals: Vec<Vec<u8>>,
}

/// A change's signature as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSignature {
    pub device: DeviceId,
    pub signature: Signature,
}

impl Store {
    /// Record new changes of a document: their signatures and authors'
    /// certificates, then the incremental bytes. Not flushed here: a local
    /// edit is flushed by its caller before the user hears "saved"; a
    /// friend's changes are left to sled's background flush (every 500 ms),
    /// since losing them in a crash costs only a pull (sled's log recovers a
    /// prefix, so the sync state that would skip them is lost with them).
    pub fn append_doc(
        &self,
        owner: &AccountId,
        kind: DocKind,
        incremental: &[u8],
        signatures: &[(Hash, DeviceCert, Signature)],
    ) -> Result<usize, StoreError> {
        let key = doc_key(owner, kind);
        let sigs = self.tree(Tree::DocSignatures);
        let certs = self.tree(Tree::Certs);
        for (hash, cert, signature) in signatures {
            let mut sig_key = key.clone();
            sig_key.extend_from_slice(hash);
            let mut value = cert.device.as_bytes().to_vec();
            value.extend_from_slice(&signature.to_bytes());
            sigs.insert(sig_key, value)?;
            // A device's certificate comes with every change it signs: a
            // read is much cheaper than rewriting the same bytes.
            let cert_bytes = cert.to_bytes();
            if certs.get(cert.device.as_bytes())?.as_deref() != Some(cert_bytes.as_slice()) {
                certs.insert(cert.device.as_bytes(), cert_bytes)?;
            }
        }
        // Incrementals are numbered from 0 after each compaction, so the
        // last one's number says how many there are without a scan of them
        // all (up to `COMPACT_AFTER`, twice, on every apply). A crash part-way
        // through a compaction leaves a tail: counted high, which only brings
        // the next compaction forward.
        let incrementals = self.tree(Tree::DocIncrementals);
        let mut count = match incrementals.scan_prefix(&key).next_back() {
            Some(entry) => {
                let (k, _) = entry?;
                let seq = k
                    .get(key.len()..)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| StoreError::Corrupt {
                        tree: Tree::DocIncrementals.name(),
                        key: crate::home::to_hex(&k),
                        why: "not a document key and an 8-byte number".into(),
                    })?;
                seq + 1
            }
            None => 0,
        };
        if !incremental.is_empty() {
            let mut incr_key = key.clone();
            incr_key.extend_from_slice(&count.to_be_bytes());
            incrementals.insert(incr_key, incremental)?;
            count += 1;
        }
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        Ok(count)
    }

    pub fn load_saved_doc(
        &self,
        owner: &AccountId,
        kind: DocKind,
    ) -> Result<Option<SavedDoc>, StoreError> {
        let key = doc_key(owner, kind);
        let snapshot = self.tree(Tree::DocSnapshots).get(&key)?.map(|v| v.to_vec());
        let mut incrementals = Vec::new();
        for entry in self.tree(Tree::DocIncrementals).scan_prefix(&key) {
            incrementals.push(entry?.1.to_vec());
        }
        if snapshot.is_none() && incrementals.is_empty() {
            return Ok(None);
        }
        Ok(Some(SavedDoc {
            snapshot,
            incrementals,
        }))
    }

    /// Replace a document's saves by one snapshot.
    pub fn compact_doc(
        &self,
        owner: &AccountId,
        kind: DocKind,
        snapshot: &[u8],
    ) -> Result<(), StoreError> {
        let key = doc_key(owner, kind);
        // The snapshot is flushed before the incrementals it covers go, so a
        // crash in between leaves both (loading them twice is harmless).
        self.tree(Tree::DocSnapshots).insert(&key, snapshot)?;
        self.flush()?;
        let incrementals = self.tree(Tree::DocIncrementals);
        let keys: Vec<sled::IVec> = incrementals
            .scan_prefix(&key)
            .keys()
            .collect::<Result<_, _>>()?;
        for k in keys {
            incrementals.remove(k)?;
        }
        self.flush()
    }

    pub fn change_signature(
        &self,
        owner: &AccountId,
        kind: DocKind,
        hash: &Hash,
    ) -> Result<Option<(DeviceCert, Signature)>, StoreError> {
        let mut key = doc_key(owner, kind);
        key.extend_from_slice(hash);
        let Some(value) = self.tree(Tree::DocSignatures).get(&key)? else {
            return Ok(None);
        };
        let corrupt = |why: &str| StoreError::Corrupt {
            tree: Tree::DocSignatures.name(),
            key: crate::home::to_hex(&key),
            why: why.into(),
        };
        let device: [u8; 32] = value
            .get(..32)
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| corrupt("short"))?;
        let signature: [u8; 64] = value
            .get(32..96)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| corrupt("short"))?;
        let Some(cert_bytes) = self.tree(Tree::Certs).get(device)? else {
            return Err(corrupt("author certificate missing"));
        };
        let cert = DeviceCert::from_bytes(&cert_bytes).map_err(|e| corrupt(&e.to_string()))?;
        Ok(Some((cert, Signature::from_bytes(&signature))))
    }

    /// Every stored change signature of a document, with its author's
    /// certificate (for an export).
    pub fn doc_signatures(
        &self,
        owner: &AccountId,
        kind: DocKind,
    ) -> Result<Vec<(Hash, DeviceCert, Signature)>, StoreError> {
        let key = doc_key(owner, kind);
        let mut out = Vec::new();
        for entry in self.tree(Tree::DocSignatures).scan_prefix(&key) {
            let (k, _) = entry?;
            let Some(hash) = k.get(key.len()..).and_then(|h| <Hash>::try_from(h).ok()) else {
                continue;
            };
            if let Some((cert, signature)) = self.change_signature(owner, kind, &hash)? {
                out.push((hash, cert, signature));
            }
        }
        Ok(out)
    }

    /// The server's heads after the last complete pull of a document from a peer account.
    pub fn sync_since(
        &self,
        peer: &AccountId,
        owner: &AccountId,
        kind: DocKind,
    ) -> Result<Vec<Hash>, StoreError> {
        let mut key = peer.as_bytes().to_vec();
        key.extend_from_slice(&doc_key(owner, kind));
        Ok(self.get_json(Tree::SyncStates, &key)?.unwrap_or_default())
    }

    /// Not flushed on its own: losing it only costs a larger next pull.
    pub fn set_sync_since(
        &self,
        peer: &AccountId,
        owner: &AccountId,
        kind: DocKind,
        heads: &[Hash],
    ) -> Result<(), StoreError> {
        let mut key = peer.as_bytes().to_vec();
        key.extend_from_slice(&doc_key(owner, kind));
        self.put_json(Tree::SyncStates, &key, &heads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count of incrementals that decides compaction comes from the
    /// last one's number: it must match the entries, restart at 0 after a
    /// compaction, and never overwrite an incremental.
    #[test]
    fn incrementals_are_counted_and_kept_across_compactions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let owner = kith_keys::AccountKey::from_seed(&[1; 32]).id();
        let other = kith_keys::AccountKey::from_seed(&[2; 32]).id();
        for i in 0..5u8 {
            let count = store
                .append_doc(&owner, DocKind::Profile, &[i], &[])
                .unwrap();
            assert_eq!(count, usize::from(i) + 1);
        }
        assert_eq!(
            store
                .append_doc(&owner, DocKind::Profile, &[], &[])
                .unwrap(),
            5
        );
        assert_eq!(
            store
                .append_doc(&other, DocKind::Profile, &[9], &[])
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .append_doc(&owner, DocKind::Friends, &[9], &[])
                .unwrap(),
            1
        );
        let saved = store
            .load_saved_doc(&owner, DocKind::Profile)
            .unwrap()
            .unwrap();
        assert_eq!(
            saved.incrementals,
            vec![vec![0], vec![1], vec![2], vec![3], vec![4]]
        );

        store
            .compact_doc(&owner, DocKind::Profile, b"snapshot")
            .unwrap();
        assert_eq!(
            store
                .append_doc(&owner, DocKind::Profile, &[7], &[])
                .unwrap(),
            1
        );
        let saved = store
            .load_saved_doc(&owner, DocKind::Profile)
            .unwrap()
            .unwrap();
        assert_eq!(saved.snapshot.as_deref(), Some(&b"snapshot"[..]));
        assert_eq!(saved.incrementals, vec![vec![7]]);
        assert_eq!(
            store
                .load_saved_doc(&other, DocKind::Profile)
                .unwrap()
                .unwrap()
                .incrementals,
            vec![vec![9]]
        );
    }
}
