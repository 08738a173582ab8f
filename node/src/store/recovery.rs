//! Social recovery's records: the shares this node holds for friends
//! (sealed to this device, see `crate::recovery`) and the shares this
//! account gave out.

use kith_keys::AccountId;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, Tree};

/// A friend's share held here, sealed with a key derived from this device's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldShare {
    pub account: AccountId,
    pub setup: u64,
    pub sealed: Vec<u8>,
    /// Unix seconds.
    pub since: u64,
}

/// The shares this account gave out, and who confirmed holding theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverySetup {
    pub setup: u64,
    pub threshold: u8,
    pub holders: Vec<ShareHolder>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareHolder {
    pub account: AccountId,
    /// The friend's node confirmed it stored this setup's share.
    pub holds: bool,
    /// The share still to hand over (dropped once held); signed into a
    /// grant when sent (this device holds the account key).
    pub share: Option<Vec<u8>>,
    /// Why the friend's node refused it, if it did.
    pub error: Option<String>,
}

const SETUP_KEY: &[u8] = b"setup";

impl Store {
    pub fn held_share(&self, account: &AccountId) -> Result<Option<HeldShare>, StoreError> {
        self.get_json(Tree::RecoveryHeld, account.as_bytes())
    }

    /// Store a friend's share durably (it is confirmed to the friend next).
    pub fn put_held_share(&self, share: &HeldShare) -> Result<(), StoreError> {
        self.put_json(Tree::RecoveryHeld, share.account.as_bytes(), share)?;
        self.flush()
    }

    pub fn remove_held_share(&self, account: &AccountId) -> Result<(), StoreError> {
        self.remove(Tree::RecoveryHeld, account.as_bytes())?;
        self.flush()
    }

    pub fn recovery_setup(&self) -> Result<Option<RecoverySetup>, StoreError> {
        self.get_json(Tree::RecoverySetup, SETUP_KEY)
    }

    pub fn put_recovery_setup(&self, setup: &RecoverySetup) -> Result<(), StoreError> {
        self.put_json(Tree::RecoverySetup, SETUP_KEY, setup)?;
        self.flush()
    }

    pub fn remove_recovery_setup(&self) -> Result<(), StoreError> {
        self.remove(Tree::RecoverySetup, SETUP_KEY)?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::AccountKey;

    #[test]
    fn shares_and_setups_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = AccountKey::generate();
        let friend = AccountKey::generate().id();
        let held = HeldShare {
            account: key.id(),
            setup: 3,
            sealed: vec![1, 2, 3],
            since: 9,
        };
        store.put_held_share(&held).unwrap();
        assert_eq!(store.held_share(&key.id()).unwrap(), Some(held));
        store.remove_held_share(&key.id()).unwrap();
        assert_eq!(store.held_share(&key.id()).unwrap(), None);

        let share = kith_keys::shares::split(&key, 1, 1).unwrap().remove(0);
        let setup = RecoverySetup {
            setup: 5,
            threshold: 1,
            holders: vec![ShareHolder {
                account: friend,
                holds: false,
                share: Some(share.to_vec()),
                error: None,
            }],
        };
        store.put_recovery_setup(&setup).unwrap();
        let back = store.recovery_setup().unwrap().unwrap();
        assert_eq!(back, setup);
    }
}
