//! The address book: peers this node has identified, for dialling them again.

use kith_keys::{AccountId, DeviceId};
use serde::{Deserialize, Serialize};

use super::{MAX_ADDRS_PER_PEER, MAX_KNOWN_PEERS, Store, StoreError, Tree};

/// What the node remembers of a peer device it has met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPeer {
    pub device: DeviceId,
    pub account: Option<AccountId>,
    pub addrs: Vec<String>,
    /// Unix seconds.
    pub last_seen: u64,
}

impl Store {
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
        self.put_json(Tree::Peers, merged.device.as_bytes(), &merged)?;
        if self.tree(Tree::Peers).len() > MAX_KNOWN_PEERS {
            self.forget_oldest_peers()?;
        }
        Ok(())
    }

    pub fn peer(&self, device: &DeviceId) -> Result<Option<KnownPeer>, StoreError> {
        self.get_json(Tree::Peers, device.as_bytes())
    }

    /// Every remembered peer, most recently seen first. Corrupt records are
    /// reported in the second list by key, not silently dropped.
    pub fn known_peers(&self) -> Result<(Vec<KnownPeer>, Vec<StoreError>), StoreError> {
        let (mut peers, bad) = self.all_json::<KnownPeer>(Tree::Peers)?;
        peers.sort_by_key(|p| std::cmp::Reverse(p.last_seen));
        Ok((peers, bad))
    }

    /// The remembered devices of an account.
    pub fn peers_of(&self, account: &AccountId) -> Result<Vec<KnownPeer>, StoreError> {
        let (peers, _) = self.known_peers()?;
        Ok(peers
            .into_iter()
            .filter(|p| p.account.as_ref() == Some(account))
            .collect())
    }

    /// Forget the least recently seen tenth of the address book at once:
    /// reading every record is then paid once per many new peers, not once
    /// per peer (it was once per peer, 10,000 parses each, in a flood).
    fn forget_oldest_peers(&self) -> Result<(), StoreError> {
        let (peers, _) = self.known_peers()?;
        let excess = peers.len().saturating_sub(MAX_KNOWN_PEERS * 9 / 10);
        for oldest in peers.iter().rev().take(excess) {
            self.remove(Tree::Peers, oldest.device.as_bytes())?;
        }
        Ok(())
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
    fn a_full_address_book_forgets_its_oldest_tenth_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..=MAX_KNOWN_PEERS as u64 {
            let mut seed = [1u8; 32];
            seed[..8].copy_from_slice(&i.to_le_bytes());
            let mut p = peer(0, i);
            p.device = DeviceKey::from_seed(&seed).id();
            store.remember_peer(p).unwrap();
        }
        let (peers, _) = store.known_peers().unwrap();
        assert_eq!(peers.len(), MAX_KNOWN_PEERS * 9 / 10);
        assert_eq!(
            peers[0].last_seen, MAX_KNOWN_PEERS as u64,
            "the newest is kept"
        );
    }

    #[test]
    fn corrupt_peer_record_is_reported_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.remember_peer(peer(1, 10)).unwrap();
        store
            .tree(Tree::Peers)
            .insert(b"garbage", b"{not json")
            .unwrap();
        let (peers, bad) = store.known_peers().unwrap();
        assert_eq!(peers.len(), 1);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].to_string().contains("peers/"));
    }
}
