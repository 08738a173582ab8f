//! Kith's replicated documents (identity, profile, friends, feed) as typed Automerge documents.
//!
//! Pure code: no IO, no async. The node crate loads, stores and syncs the
//! bytes this crate produces. Every change's Automerge actor id is the
//! public key of the device that wrote it. This is the only crate that names
//! automerge types.
//!
//! ```
//! use kith_crdt::{Doc, profile};
//! use kith_keys::DeviceKey;
//!
//! // Two devices edit different fields of one profile at once...
//! let mut laptop = Doc::new(&DeviceKey::generate().id());
//! profile::set(&mut laptop, "name", "Ada").unwrap();
//! let first = laptop.commit().unwrap();
//! let mut phone = Doc::new(&DeviceKey::generate().id());
//! phone.apply(vec![first]).unwrap();
//! profile::set(&mut laptop, "bio", "engineer").unwrap();
//! let from_laptop = laptop.commit().unwrap();
//! profile::set(&mut phone, "city", "London").unwrap();
//! let from_phone = phone.commit().unwrap();
//! // ...and exchanging changes merges both without loss.
//! laptop.apply(vec![from_phone]).unwrap();
//! phone.apply(vec![from_laptop]).unwrap();
//! assert_eq!(profile::fields(&laptop), profile::fields(&phone));
//! assert_eq!(profile::fields(&laptop).len(), 3);
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod change;
mod doc;
pub mod feed;
pub mod friends;
pub mod guard;
pub mod identity;
pub mod profile;

use std::fmt;

pub use change::{MAX_CHANGE_BYTES, ParsedChange};
pub use doc::{Doc, Hash, genesis_hash};
pub use friends::Friend;

/// Why a document operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    #[error("document error: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("document is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Limit(String),
    /// Bytes from outside refused before Automerge parsed them.
    #[error("refused: {0}")]
    Refused(#[from] guard::GuardError),
}

/// The documents every account owns. Their names are part of the wire format.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
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
    /// Public posts.
    Feed,
    /// Friends-only posts.
    FeedPrivate,
}

impl DocKind {
    pub const ALL: [DocKind; 6] = [
        DocKind::Identity,
        DocKind::Profile,
        DocKind::ProfilePrivate,
        DocKind::Friends,
        DocKind::Feed,
        DocKind::FeedPrivate,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// A stable one-byte code, for store keys.
    pub fn code(self) -> u8 {
        match self {
            DocKind::Identity => 1,
            DocKind::Profile => 2,
            DocKind::ProfilePrivate => 3,
            DocKind::Friends => 4,
            DocKind::Feed => 5,
            DocKind::FeedPrivate => 6,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Identity => "identity",
            DocKind::Profile => "profile",
            DocKind::ProfilePrivate => "profile-private",
            DocKind::Friends => "friends",
            DocKind::Feed => "feed",
            DocKind::FeedPrivate => "feed-private",
        }
    }

    /// Whether anyone may fetch this document, or only friends and own devices.
    pub fn is_public(self) -> bool {
        matches!(self, DocKind::Identity | DocKind::Profile | DocKind::Feed)
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
