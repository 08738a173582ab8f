//! The node's persistent state in sled (`$KITH_HOME/db`). Only this module names sled trees and key encodings.
//!
//! Durability: sled buffers writes and makes them durable on `flush`, which
//! on Linux calls `sync_file_range`, not `fsync`. Writes are flushed before
//! the node reports them done; that survives `kill -9` of the process (tested
//! in `node/tests/it/daemon.rs`), not necessarily a power cut on every
//! filesystem. See docs/ARCHITECTURE.md, "Persistence".

mod deliveries;
mod discovery;
mod docs;
mod friends;
mod peers;
mod recovery;

use std::path::Path;

use serde::{Serialize, de::DeserializeOwned};

pub use deliveries::{Delivery, DeliveryState, LinkCheck};
pub use discovery::{ContactRecord, DiscoverableRecord, Suggestion};
pub use docs::{COMPACT_AFTER, SavedDoc, StoredSignature};
pub use friends::{
    Direction, HandshakeIntent, InviteRecord, MAX_OUTBOX_PER_ACCOUNT, MAX_SENT_VERSIONS,
    PairingRecord, RequestRecord, RequestState,
};
pub use peers::KnownPeer;
pub use recovery::{HeldShare, RecoverySetup, ShareHolder};

/// sled's page cache. Its default is 1 GiB, far more than a node needs.
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Most peers remembered in the address book; the least recently seen go first.
pub const MAX_KNOWN_PEERS: usize = 10_000;

/// Most addresses remembered per peer.
pub const MAX_ADDRS_PER_PEER: usize = 8;

const SCHEMA_VERSION: u32 = 1;

/// Every sled tree the node uses, named in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tree {
    /// Schema version, display name.
    Meta,
    /// Address book: device id → `KnownPeer`.
    Peers,
    /// Document snapshots: owner || doc code → bytes.
    DocSnapshots,
    /// Incremental document saves: owner || doc code || seq → bytes.
    DocIncrementals,
    /// Change signatures: owner || doc code || change hash → device || signature.
    DocSignatures,
    /// Device certificates of change authors: device → certificate bytes.
    Certs,
    /// Per-peer sync state: peer account || owner || doc code → heads (JSON).
    SyncStates,
    /// Friend invites issued: sha256(secret) → `InviteRecord`.
    Invites,
    /// Friend requests in and out: account id → `RequestRecord`.
    Requests,
    /// Handshake messages still to deliver: account id → `Vec<HandshakeIntent>`.
    Outbox,
    /// Imported contacts: identifier hash → `ContactRecord`.
    Contacts,
    /// Identifiers this account is discoverable by: `kind:value` → `DiscoverableRecord`.
    Discoverable,
    /// People this node found through contacts: account id → `Suggestion`.
    Suggestions,
    /// Device pairing tickets issued: sha256(secret) → `PairingRecord`.
    Pairings,
    /// Bridge outbox: `post/bridge` → `Delivery`.
    Deliveries,
    /// Keys of deliveries not finished yet.
    DeliveriesUnfinished,
    /// Link proof checks: owner || `platform/handle` → `LinkCheck`.
    LinkChecks,
    /// Accounts this node blocks (local only): account id → since (u64 BE).
    Blocked,
    /// Friends' recovery shares held here: account id → `HeldShare`.
    RecoveryHeld,
    /// The shares this account gave out: `setup` → `RecoverySetup`.
    RecoverySetup,
}

impl Tree {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Peers => "peers",
            Tree::DocSnapshots => "doc_snapshots",
            Tree::DocIncrementals => "doc_incrementals",
            Tree::DocSignatures => "doc_signatures",
            Tree::Certs => "certs",
            Tree::SyncStates => "sync_states",
            Tree::Invites => "invites",
            Tree::Requests => "requests",
            Tree::Outbox => "outbox",
            Tree::Contacts => "contacts",
            Tree::Discoverable => "discoverable",
            Tree::Suggestions => "suggestions",
            Tree::Pairings => "pairings",
            Tree::Deliveries => "deliveries",
            Tree::DeliveriesUnfinished => "deliveries_unfinished",
            Tree::LinkChecks => "link_checks",
            Tree::Blocked => "blocked",
            Tree::RecoveryHeld => "recovery_held",
            Tree::RecoverySetup => "recovery_setup",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database {0} is in use by another process (is a kith daemon running?)")]
    Locked(String),
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    #[error("record {tree}/{key} is corrupt: {why}")]
    Corrupt {
        tree: &'static str,
        key: String,
        why: String,
    },
    #[error("database schema {found} is newer than this kith understands ({SCHEMA_VERSION})")]
    NewerSchema { found: u32 },
}

/// A handle to the open database. Cheap to clone; one per process.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StoreError::Locked(path.display().to_string())
                }
                other => StoreError::Sled(other),
            })?;
        let store = Store { db };
        store.check_schema()?;
        Ok(store)
    }

    pub(crate) fn tree(&self, tree: Tree) -> sled::Tree {
        // Opening a tree only fails on IO errors, which the next operation
        // on it reports as well; fall back to the default tree meanwhile.
        self.db
            .open_tree(tree.name())
            .unwrap_or_else(|_| (*self.db).clone())
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let meta = self.db.open_tree(Tree::Meta.name())?;
        match meta.get("schema")? {
            None => {
                meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
                self.flush()
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        tree: "meta",
                        key: "schema".into(),
                        why: "not a u32".into(),
                    })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema { found });
                }
                Ok(())
            }
        }
    }

    /// Make every write so far durable (see the module docs for how far).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    pub fn set_display_name(&self, name: &str) -> Result<(), StoreError> {
        self.tree(Tree::Meta)
            .insert("display_name", name.as_bytes())?;
        self.flush()
    }

    pub fn display_name(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .tree(Tree::Meta)
            .get("display_name")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Read a JSON record.
    pub(crate) fn get_json<T: DeserializeOwned>(
        &self,
        tree: Tree,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.tree(tree).get(key)? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        tree: tree.name(),
                        key: String::from_utf8_lossy(key).into_owned(),
                        why: e.to_string(),
                    })
            }
        }
    }

    /// Write a JSON record (not flushed: callers flush when they report success).
    pub(crate) fn put_json<T: Serialize>(
        &self,
        tree: Tree,
        key: &[u8],
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
            tree: tree.name(),
            key: String::from_utf8_lossy(key).into_owned(),
            why: e.to_string(),
        })?;
        self.tree(tree).insert(key, bytes)?;
        Ok(())
    }

    /// Every record of a tree; corrupt ones are reported by key, not dropped.
    pub(crate) fn all_json<T: DeserializeOwned>(
        &self,
        tree: Tree,
    ) -> Result<(Vec<T>, Vec<StoreError>), StoreError> {
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for entry in self.tree(tree).iter() {
            let (key, value) = entry?;
            match serde_json::from_slice(&value) {
                Ok(v) => good.push(v),
                Err(e) => bad.push(StoreError::Corrupt {
                    tree: tree.name(),
                    key: crate::home::to_hex(&key),
                    why: e.to_string(),
                }),
            }
        }
        Ok((good, bad))
    }

    pub(crate) fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), StoreError> {
        self.tree(tree).remove(key)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_keeps_flushed_writes() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.set_display_name("Ada").unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.display_name().unwrap().as_deref(), Some("Ada"));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .tree(Tree::Meta)
                .insert("schema", &99u32.to_be_bytes())
                .unwrap();
            store.flush().unwrap();
        }
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::NewerSchema { found: 99 })
        ));
    }
}
