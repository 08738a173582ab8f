//! Typed views of a document (who is a friend, which devices and
//! revocations it holds), kept until the document next changes.
//!
//! The receive path asks them for every announcement and every pull
//! (is the sender a friend? is the announcing device the owner's?), and
//! each answer from Automerge is a walk of its op set plus a parse and a
//! signature check per certificate. A document changes far less often than
//! it is asked, so [`Doc`](super::Doc) empties its views on every edit and
//! rebuilds each on the next question.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, OnceLock},
};

use kith_keys::{AccountId, DeviceCert};

use crate::identity::Revocation;

/// The views of one document; `Default` is "nothing known yet".
#[derive(Debug, Clone, Default)]
pub(crate) struct Views {
    pub(crate) friends: Cached<(), Accounts>,
    pub(crate) devices: Cached<AccountId, Vec<DeviceCert>>,
    pub(crate) revocations: Cached<AccountId, Vec<Revocation>>,
    /// A profile's text fields (read before and after every remote apply,
    /// to name the fields that changed).
    pub(crate) fields: Cached<(), BTreeMap<String, String>>,
}

/// A set of accounts in the document's key order (callers list them in
/// that order, and the simulator's runs must repeat).
#[derive(Debug, Default)]
pub(crate) struct Accounts {
    pub(crate) in_order: Vec<AccountId>,
    pub(crate) set: HashSet<AccountId>,
}

impl FromIterator<AccountId> for Accounts {
    fn from_iter<I: IntoIterator<Item = AccountId>>(iter: I) -> Self {
        let in_order: Vec<AccountId> = iter.into_iter().collect();
        let set = in_order.iter().copied().collect();
        Accounts { in_order, set }
    }
}

/// One view, computed once for one key (an identity document is only
/// ever asked about its owner; a question about another key is answered
/// but not kept).
#[derive(Debug)]
pub(crate) struct Cached<K, V>(OnceLock<(K, Arc<V>)>);

impl<K, V> Default for Cached<K, V> {
    fn default() -> Self {
        Cached(OnceLock::new())
    }
}

impl<K: Clone, V> Clone for Cached<K, V> {
    fn clone(&self) -> Self {
        let cell = OnceLock::new();
        if let Some((k, v)) = self.0.get() {
            let _ = cell.set((k.clone(), Arc::clone(v)));
        }
        Cached(cell)
    }
}

impl<K: Eq + Clone, V> Cached<K, V> {
    /// The view for `key`, computed by `compute` if it is not kept.
    pub(crate) fn get(&self, key: &K, compute: impl FnOnce() -> V) -> Arc<V> {
        if let Some((k, v)) = self.0.get() {
            if k == key {
                return Arc::clone(v);
            }
            return Arc::new(compute());
        }
        let value = Arc::new(compute());
        let _ = self.0.set((key.clone(), Arc::clone(&value)));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_computed_once_per_key_kept() {
        let cached: Cached<u8, u32> = Cached::default();
        let mut calls = 0;
        assert_eq!(
            *cached.get(&1, || {
                calls += 1;
                10
            }),
            10
        );
        assert_eq!(
            *cached.get(&1, || {
                calls += 1;
                11
            }),
            10
        );
        assert_eq!(calls, 1);
        // Another key is answered, not kept.
        assert_eq!(*cached.get(&2, || 20), 20);
        assert_eq!(*cached.get(&1, || 12), 10);
        assert_eq!(*cached.clone().get(&1, || 13), 10);
    }
}
