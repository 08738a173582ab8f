//! The `friends` document: who this account's friends are, with the signed
//! handshake that proves each friendship, and whom it has blocked.
//!
//! ```text
//! ROOT.friends.<account id> = { since: uint, name: str, request: bytes, accept: bytes }
//! ROOT.blocked.<account id> = uint (since)
//! ```
//!
//! `request` and `accept` are the two signed handshake messages (one signed
//! by each side), kept so either side can prove the friendship.

use automerge::{ObjId, ReadDoc as _, ScalarValue, transaction::Transactable as _};
use kith_keys::{AccountId, DeviceId};

use crate::{Doc, DocError};

const FRIENDS: &str = "friends";
const BLOCKED: &str = "blocked";

/// One friendship as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friend {
    pub account: AccountId,
    pub name: String,
    /// Unix seconds.
    pub since: u64,
    /// The signed friend request (handshake bytes).
    pub request: Vec<u8>,
    /// The signed accept (handshake bytes).
    pub accept: Vec<u8>,
}

/// The account's friends list as an Automerge document.
#[derive(Debug)]
pub struct FriendsDoc {
    doc: Doc,
}

impl FriendsDoc {
    pub fn new(device: &DeviceId) -> Self {
        FriendsDoc {
            doc: Doc::new(device),
        }
    }

    pub fn load(bytes: &[u8], device: &DeviceId) -> Result<Self, DocError> {
        Ok(FriendsDoc {
            doc: Doc::load(bytes, device)?,
        })
    }

    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    pub fn add(&mut self, friend: &Friend) -> Result<(), DocError> {
        let friends = self.doc.root_map(FRIENDS)?;
        let d = self.doc.inner_mut();
        let entry = d.put_object(
            &friends,
            friend.account.to_string(),
            automerge::ObjType::Map,
        )?;
        d.put(&entry, "since", ScalarValue::Uint(friend.since))?;
        d.put(&entry, "name", friend.name.as_str())?;
        d.put(
            &entry,
            "request",
            ScalarValue::Bytes(friend.request.clone()),
        )?;
        d.put(&entry, "accept", ScalarValue::Bytes(friend.accept.clone()))?;
        self.doc.commit();
        Ok(())
    }

    /// Returns whether the account was a friend.
    pub fn remove(&mut self, account: &AccountId) -> Result<bool, DocError> {
        let Some(friends) = self.doc.existing_root_map(FRIENDS) else {
            return Ok(false);
        };
        let key = account.to_string();
        if self.doc.inner().get(&friends, key.as_str())?.is_none() {
            return Ok(false);
        }
        self.doc.inner_mut().delete(&friends, key.as_str())?;
        self.doc.commit();
        Ok(true)
    }

    pub fn is_friend(&self, account: &AccountId) -> bool {
        self.doc
            .existing_root_map(FRIENDS)
            .is_some_and(|f| matches!(self.doc.inner().get(&f, account.to_string()), Ok(Some(_))))
    }

    /// Every friend, ordered by account id. Entries that do not parse (a
    /// newer writer, damage) are returned by key in the second list.
    pub fn friends(&self) -> (Vec<Friend>, Vec<String>) {
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        let Some(friends) = self.doc.existing_root_map(FRIENDS) else {
            return (good, bad);
        };
        for key in self.doc.inner().keys(&friends) {
            match self.read_friend(&friends, &key) {
                Some(friend) => good.push(friend),
                None => bad.push(key),
            }
        }
        (good, bad)
    }

    fn read_friend(&self, friends: &ObjId, key: &str) -> Option<Friend> {
        let d = self.doc.inner();
        let account: AccountId = key.parse().ok()?;
        let (_, entry) = d.get(friends, key).ok()??;
        let field = |name: &str| d.get(&entry, name).ok().flatten().map(|(v, _)| v);
        Some(Friend {
            account,
            since: field("since")?.as_u64()?,
            name: field("name")?.as_str()?.to_string(),
            request: field("request")?.as_bytes()?.to_vec(),
            accept: field("accept")?.as_bytes()?.to_vec(),
        })
    }

    pub fn block(&mut self, account: &AccountId, since: u64) -> Result<(), DocError> {
        let blocked = self.doc.root_map(BLOCKED)?;
        self.doc
            .inner_mut()
            .put(&blocked, account.to_string(), ScalarValue::Uint(since))?;
        self.doc.commit();
        Ok(())
    }

    pub fn unblock(&mut self, account: &AccountId) -> Result<(), DocError> {
        if let Some(blocked) = self.doc.existing_root_map(BLOCKED) {
            self.doc.inner_mut().delete(&blocked, account.to_string())?;
            self.doc.commit();
        }
        Ok(())
    }

    pub fn is_blocked(&self, account: &AccountId) -> bool {
        self.doc
            .existing_root_map(BLOCKED)
            .is_some_and(|b| matches!(self.doc.inner().get(&b, account.to_string()), Ok(Some(_))))
    }

    pub fn blocked(&self) -> Vec<AccountId> {
        let Some(blocked) = self.doc.existing_root_map(BLOCKED) else {
            return Vec::new();
        };
        self.doc
            .inner()
            .keys(&blocked)
            .filter_map(|k| k.parse().ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::{AccountKey, DeviceKey};

    fn friend(seed: u8) -> Friend {
        Friend {
            account: AccountKey::from_seed(&[seed; 32]).id(),
            name: format!("friend {seed}"),
            since: 1_700_000_000 + u64::from(seed),
            request: vec![seed; 10],
            accept: vec![seed + 1; 10],
        }
    }

    #[test]
    fn friends_round_trip_through_save_and_load() {
        let device = DeviceKey::from_seed(&[9; 32]).id();
        let mut doc = FriendsDoc::new(&device);
        doc.add(&friend(1)).unwrap();
        doc.add(&friend(2)).unwrap();
        assert!(doc.remove(&friend(1).account).unwrap());
        assert!(!doc.remove(&friend(1).account).unwrap());
        doc.block(&friend(3).account, 5).unwrap();
        let loaded = FriendsDoc::load(&doc.save(), &device).unwrap();
        let (friends, bad) = loaded.friends();
        assert_eq!(friends, vec![friend(2)]);
        assert!(bad.is_empty());
        assert!(loaded.is_friend(&friend(2).account));
        assert!(!loaded.is_friend(&friend(1).account));
        assert!(loaded.is_blocked(&friend(3).account));
        assert_eq!(loaded.blocked(), vec![friend(3).account]);
    }

    #[test]
    fn garbage_bytes_are_an_error_not_a_panic() {
        let device = DeviceKey::from_seed(&[9; 32]).id();
        assert!(FriendsDoc::load(b"definitely not automerge", &device).is_err());
        let mut doc = FriendsDoc::new(&device);
        doc.add(&friend(1)).unwrap();
        let bytes = doc.save();
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                FriendsDoc::load(&bytes[..cut], &device).is_err(),
                "cut at {cut}"
            );
        }
    }
}
