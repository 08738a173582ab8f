//! One Automerge change as bytes, with what verification needs: hash and author.

use automerge::Change;

use crate::{DocError, doc::Hash};

/// Largest single change accepted, in bytes.
pub const MAX_CHANGE_BYTES: usize = 256 * 1024;

/// A change parsed far enough to verify it: its hash (what its author
/// signs), its actor id (who must have signed), the changes it builds on,
/// and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedChange {
    pub hash: Hash,
    pub actor: Vec<u8>,
    pub deps: Vec<Hash>,
    pub bytes: Vec<u8>,
}

impl ParsedChange {
    /// Parse untrusted change bytes. Rejects oversized changes and a chunk
    /// whose stored checksum does not match its content (automerge's own
    /// `Change::from_bytes` does not check it).
    pub fn parse(bytes: Vec<u8>) -> Result<Self, DocError> {
        if bytes.len() > MAX_CHANGE_BYTES {
            return Err(DocError::Corrupt(format!(
                "change of {} bytes is over the {MAX_CHANGE_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let parsed = std::panic::catch_unwind(|| Change::from_bytes(bytes.clone()))
            .map_err(|_| DocError::Corrupt("automerge panicked parsing a change".into()))?
            .map_err(|e| DocError::Corrupt(format!("not a change: {e}")))?;
        let hash = parsed.hash().0;
        if bytes.get(4..8) != Some(&hash[0..4]) {
            return Err(DocError::Corrupt(
                "change checksum does not match its content".into(),
            ));
        }
        Ok(ParsedChange {
            hash,
            actor: parsed.actor_id().to_bytes().to_vec(),
            deps: parsed.deps().iter().map(|h| h.0).collect(),
            bytes,
        })
    }

    pub(crate) fn from_change(change: &Change) -> Self {
        ParsedChange {
            hash: change.hash().0,
            actor: change.actor_id().to_bytes().to_vec(),
            deps: change.deps().iter().map(|h| h.0).collect(),
            bytes: change.raw_bytes().to_vec(),
        }
    }

    pub(crate) fn into_change(self) -> Result<Change, DocError> {
        Change::from_bytes(self.bytes).map_err(|e| DocError::Corrupt(format!("not a change: {e}")))
    }
}
