//! Kith's replicated documents (identity, profile, friends, feed) as typed Automerge documents.
//!
//! Pure code: no IO, no async. The node crate loads, stores and syncs the
//! bytes this crate produces. Every change's Automerge actor id is the
//! public key of the device that wrote it. This is the only crate that names
//! automerge types.
//!
//! ```
//! use kith_crdt::{FriendsDoc, Friend};
//! use kith_keys::{AccountKey, DeviceKey};
//!
//! let device = DeviceKey::generate().id();
//! let mut doc = FriendsDoc::new(&device);
//! let bob = AccountKey::generate().id();
//! doc.add(&Friend { account: bob, name: "Bob".into(), since: 1, request: vec![], accept: vec![] }).unwrap();
//! let copy = FriendsDoc::load(&doc.save(), &device).unwrap();
//! assert!(copy.is_friend(&bob));
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod doc;
mod friends;

use std::fmt;

pub use doc::Doc;
pub use friends::{Friend, FriendsDoc};

/// Why a document operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    #[error("document error: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("document is corrupt: {0}")]
    Corrupt(String),
}

/// The documents every account owns. Their names are part of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DocKind {
    /// Device certificates, revocations, platform-link proofs. Public.
    Identity,
    /// Public profile fields.
    Profile,
    /// Friends-only profile fields.
    ProfilePrivate,
    /// The friends list. Friends-only.
    Friends,
    /// Posts.
    Feed,
}

impl DocKind {
    pub const ALL: [DocKind; 5] = [
        DocKind::Identity,
        DocKind::Profile,
        DocKind::ProfilePrivate,
        DocKind::Friends,
        DocKind::Feed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Identity => "identity",
            DocKind::Profile => "profile",
            DocKind::ProfilePrivate => "profile-private",
            DocKind::Friends => "friends",
            DocKind::Feed => "feed",
        }
    }

    /// Whether anyone may fetch this document, or only friends and own devices.
    pub fn is_public(self) -> bool {
        matches!(self, DocKind::Identity | DocKind::Profile)
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
