//! The node's persistent state in sled (`$KITH_HOME/db`). Only this module names sled trees and key encodings.
//!
//! Durability: sled buffers writes and makes them durable on `flush`, which
//! on Linux calls `sync_file_range`, not `fsync`. Writes are flushed before
//! the node reports them done; that survives `kill -9` of the process (tested
//! in `store_survives_process_kill`), not necessarily a power cut on every
//! filesystem. See docs/ARCHITECTURE.md, "Persistence".

use std::path::Path;

use kith_keys::{AccountId, DeviceId};
use serde::{Deserialize, Serialize};

/// sled's page cache. Its default is 1 GiB, far more than a node needs.
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Most peers remembered in the address book; the least recently seen go first.
pub const MAX_KNOWN_PEERS: usize = 10_000;

/// Most addresses remembered per peer.
pub const MAX_ADDRS_PER_PEER: usize = 8;

const SCHEMA_VERSION: u32 = 1;

const META: &str = "meta";
const PEERS: &str = "peers";

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

/// What the node remembers of a peer device it has met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPeer {
    pub device: DeviceId,
    pub account: Option<AccountId>,
    pub addrs: Vec<String>,
    /// Unix seconds.
    pub last_seen: u64,
}

/// A handle to the open database. Cheap to clone; one per process.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    peers: sled::Tree,
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
        let store = Store {
            meta: db.open_tree(META)?,
            peers: db.open_tree(PEERS)?,
            db,
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        match self.meta.get("schema")? {
            None => {
                self.meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
                self.flush()
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        tree: META,
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
        self.meta.insert("display_name", name.as_bytes())?;
        self.flush()
    }

    pub fn display_name(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .meta
            .get("display_name")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Remember a peer (merging addresses with what was known). Not flushed:
    /// the address book is a cache, and losing its last second is harmless.
    pub fn remember_peer(&self, peer: KnownPeer) -> Result<(), StoreError> {
        let mut merged = peer;
        if let Some(old) = self.peer(&merged.device)? {
            merged.account = merged.account.or(old.account);
            for addr in old.addrs {
                if merged.addrs.len() >= MAX_ADDRS_PER_PEER {
                    break;
                }
                if !merged.addrs.contains(&addr) {
                    merged.addrs.push(addr);
                }
            }
        }
        merged.addrs.truncate(MAX_ADDRS_PER_PEER);
        let bytes = serde_json::to_vec(&merged).map_err(|e| corrupt_peer(&merged.device, e))?;
        self.peers.insert(merged.device.as_bytes(), bytes)?;
        if self.peers.len() > MAX_KNOWN_PEERS {
            self.forget_oldest_peer()?;
        }
        Ok(())
    }

    pub fn peer(&self, device: &DeviceId) -> Result<Option<KnownPeer>, StoreError> {
        match self.peers.get(device.as_bytes())? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| corrupt_peer(device, e)),
        }
    }

    /// Every remembered peer, most recently seen first. Corrupt records are
    /// reported in the second list by key, not silently dropped.
    pub fn known_peers(&self) -> Result<(Vec<KnownPeer>, Vec<StoreError>), StoreError> {
        let (mut peers, mut bad) = (Vec::new(), Vec::new());
        for entry in self.peers.iter() {
            let (key, value) = entry?;
            match serde_json::from_slice::<KnownPeer>(&value) {
                Ok(peer) => peers.push(peer),
                Err(e) => bad.push(StoreError::Corrupt {
                    tree: PEERS,
                    key: crate::home::to_hex(&key),
                    why: e.to_string(),
                }),
            }
        }
        peers.sort_by_key(|p| std::cmp::Reverse(p.last_seen));
        Ok((peers, bad))
    }

    fn forget_oldest_peer(&self) -> Result<(), StoreError> {
        let (peers, _) = self.known_peers()?;
        if let Some(oldest) = peers.last() {
            self.peers.remove(oldest.device.as_bytes())?;
        }
        Ok(())
    }
}

fn corrupt_peer(device: &DeviceId, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        tree: PEERS,
        key: device.to_string(),
        why: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::DeviceKey;

    fn peer(n: u8, last_seen: u64) -> KnownPeer {
        KnownPeer {
            device: DeviceKey::from_seed(&[n; 32]).id(),
            account: None,
            addrs: vec![format!("/ip4/127.0.0.1/tcp/{n}")],
            last_seen,
        }
    }

    #[test]
    fn peers_merge_addresses_and_sort_by_recency() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.remember_peer(peer(1, 10)).unwrap();
        store.remember_peer(peer(2, 20)).unwrap();
        let mut again = peer(1, 30);
        again.addrs = vec!["/ip4/127.0.0.1/tcp/99".into()];
        store.remember_peer(again).unwrap();
        let (peers, bad) = store.known_peers().unwrap();
        assert!(bad.is_empty());
        assert_eq!(peers[0].last_seen, 30);
        assert_eq!(peers[0].addrs.len(), 2);
    }

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
    fn corrupt_peer_record_is_reported_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.remember_peer(peer(1, 10)).unwrap();
        store.peers.insert(b"garbage", b"{not json").unwrap();
        let (peers, bad) = store.known_peers().unwrap();
        assert_eq!(peers.len(), 1);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].to_string().contains("peers/"));
    }
}
