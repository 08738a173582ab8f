//! The `friends` document: who this account's friends are (friends-only).
//!
//! ```text
//! ROOT.friends.<account id> = { since: uint, name: str }
//! ```
//!
//! Only what every friend may know: the handshake that proves a friendship
//! (its request may carry a private message) and whom this account blocks
//! stay on its own devices. Documents written before this held them
//! (`request`, `accept`, and a `blocked` map); they are no longer written,
//! and a node moves old blocks to its own store.
//!
//! Edits leave the transaction open: the caller commits (and signs) once.

use automerge::{ObjId, ReadDoc as _, ScalarValue, transaction::Transactable as _};
use kith_keys::AccountId;

use crate::{Doc, DocError, doc::Accounts};

const FRIENDS: &str = "friends";
const BLOCKED: &str = "blocked";

/// One friendship as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friend {
    pub account: AccountId,
    pub name: String,
    /// Unix seconds.
    pub since: u64,
}

pub fn add(doc: &mut Doc, friend: &Friend) -> Result<(), DocError> {
    let friends = doc.root_map(FRIENDS)?;
    let d = doc.inner_mut();
    let entry = d.put_object(
        &friends,
        friend.account.to_string(),
        automerge::ObjType::Map,
    )?;
    d.put(&entry, "since", ScalarValue::Uint(friend.since))?;
    d.put(&entry, "name", friend.name.as_str())?;
    Ok(())
}

/// Returns whether the account was a friend.
pub fn remove(doc: &mut Doc, account: &AccountId) -> Result<bool, DocError> {
    let Some(friends) = doc.existing_root_map(FRIENDS) else {
        return Ok(false);
    };
    let key = account.to_string();
    if doc.inner().get(&friends, key.as_str())?.is_none() {
        return Ok(false);
    }
    doc.inner_mut().delete(&friends, key.as_str())?;
    Ok(true)
}

pub fn is_friend(doc: &Doc, account: &AccountId) -> bool {
    friend_set(doc).set.contains(account)
}

/// The friends' account ids (cheap: no entry is parsed).
pub fn accounts(doc: &Doc) -> Vec<AccountId> {
    friend_set(doc).in_order.clone()
}

/// The friends' account ids as a set, kept in the document's views until
/// it next changes (asked for every message a node receives).
fn friend_set(doc: &Doc) -> std::sync::Arc<Accounts> {
    doc.views()
        .friends
        .get(&(), || doc.read(accounts_unguarded))
}

fn accounts_unguarded(doc: &Doc) -> Accounts {
    let Some(friends) = doc.existing_root_map(FRIENDS) else {
        return Accounts::default();
    };
    doc.inner()
        .keys(&friends)
        .filter_map(|k| k.parse().ok())
        .collect()
}

/// Every friend, ordered by account id. Entries that do not parse (a
/// newer writer, damage) are returned by key in the second list.
pub fn list(doc: &Doc) -> (Vec<Friend>, Vec<String>) {
    doc.read(list_unguarded)
}

fn list_unguarded(doc: &Doc) -> (Vec<Friend>, Vec<String>) {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    let Some(friends) = doc.existing_root_map(FRIENDS) else {
        return (good, bad);
    };
    for key in doc.inner().keys(&friends) {
        match read_friend(doc, &friends, &key) {
            Some(friend) => good.push(friend),
            None => bad.push(key),
        }
    }
    (good, bad)
}

fn read_friend(doc: &Doc, friends: &ObjId, key: &str) -> Option<Friend> {
    let d = doc.inner();
    let account: AccountId = key.parse().ok()?;
    let (_, entry) = d.get(friends, key).ok()??;
    let field = |name: &str| d.get(&entry, name).ok().flatten().map(|(v, _)| v);
    Some(Friend {
        account,
        since: field("since")?.as_u64()?,
        name: field("name")?.as_str()?.to_string(),
    })
}

/// Accounts a document written by an older version lists as blocked (to
/// move them to the local store).
pub fn blocked(doc: &Doc) -> Vec<AccountId> {
    doc.read(|d| {
        d.existing_root_map(BLOCKED)
            .map(|b| d.inner().keys(&b).filter_map(|k| k.parse().ok()).collect())
            .unwrap_or_default()
    })
}

pub fn unblock(doc: &mut Doc, account: &AccountId) -> Result<(), DocError> {
    if let Some(blocked) = doc.existing_root_map(BLOCKED) {
        doc.inner_mut().delete(&blocked, account.to_string())?;
    }
    Ok(())
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
        }
    }

    #[test]
    fn friends_round_trip_through_save_and_load() {
        let device = DeviceKey::from_seed(&[9; 32]).id();
        let mut doc = Doc::new(&device);
        add(&mut doc, &friend(1)).unwrap();
        add(&mut doc, &friend(2)).unwrap();
        doc.commit();
        assert!(remove(&mut doc, &friend(1).account).unwrap());
        assert!(!remove(&mut doc, &friend(1).account).unwrap());
        doc.commit();
        let loaded = Doc::load(&doc.save().unwrap(), &device).unwrap();
        let (friends, bad) = list(&loaded);
        assert_eq!(friends, vec![friend(2)]);
        assert!(bad.is_empty());
        assert!(is_friend(&loaded, &friend(2).account));
        assert!(!is_friend(&loaded, &friend(1).account));
        assert!(blocked(&loaded).is_empty());
        assert_eq!(accounts(&loaded), vec![friend(2).account]);
    }

    /// The friend set is kept between edits: every way the document can
    /// change (an edit, a rollback, a peer's changes, a merge, a purge)
    /// must show in the next answer.
    #[test]
    fn the_kept_friend_set_follows_every_change() {
        let (mine, theirs) = (
            DeviceKey::from_seed(&[9; 32]).id(),
            DeviceKey::from_seed(&[8; 32]).id(),
        );
        let mut doc = Doc::new(&mine);
        assert!(!is_friend(&doc, &friend(1).account));
        add(&mut doc, &friend(1)).unwrap();
        assert!(is_friend(&doc, &friend(1).account), "an open edit shows");
        doc.rollback();
        assert!(!is_friend(&doc, &friend(1).account), "a rollback shows");
        add(&mut doc, &friend(1)).unwrap();
        doc.commit();
        assert_eq!(accounts(&doc), vec![friend(1).account]);

        let mut other = Doc::load(&doc.save().unwrap(), &theirs).unwrap();
        assert!(is_friend(&other, &friend(1).account));
        add(&mut other, &friend(2)).unwrap();
        let change = other.commit().unwrap();
        doc.apply(vec![change]).unwrap();
        assert!(is_friend(&doc, &friend(2).account), "a peer's change shows");

        remove(&mut other, &friend(1).account).unwrap();
        other.commit();
        let mut copy = Doc::load(&other.save().unwrap(), &theirs).unwrap();
        doc.merge(&mut copy).unwrap();
        assert!(!is_friend(&doc, &friend(1).account), "a merge shows");

        let mut purged = Doc::load(&doc.save().unwrap(), &mine).unwrap();
        assert!(is_friend(&purged, &friend(2).account));
        let theirs_bytes = theirs.as_bytes().to_vec();
        assert!(
            purged
                .purge(|actor, _| actor == theirs_bytes.as_slice())
                .unwrap()
                > 0
        );
        assert!(!is_friend(&purged, &friend(2).account), "a purge shows");
        assert!(is_friend(&purged, &friend(1).account));
    }

    #[test]
    fn garbage_bytes_are_an_error_not_a_panic() {
        let device = DeviceKey::from_seed(&[9; 32]).id();
        assert!(Doc::load(b"definitely not automerge", &device).is_err());
        let mut doc = Doc::new(&device);
        add(&mut doc, &friend(1)).unwrap();
        doc.commit();
        let bytes = doc.save().unwrap();
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert!(Doc::load(&bytes[..cut], &device).is_err(), "cut at {cut}");
        }
    }
}
