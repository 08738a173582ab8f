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
    /// Parse untrusted change bytes: one uncompressed change chunk, within
    /// [`MAX_CHANGE_BYTES`] and the [`guard`](crate::guard)'s limits, whose
    /// checksum matches its content (automerge's own `Change::from_bytes`
    /// does not check it). Callers that can check a signature first read
    /// the cheap [`guard::change_header`](crate::guard::change_header).
    pub fn parse(bytes: Vec<u8>) -> Result<Self, DocError> {
        if bytes.len() > MAX_CHANGE_BYTES {
            return Err(DocError::Corrupt(format!(
                "change of {} bytes is over the {MAX_CHANGE_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let header = crate::guard::check_change(&bytes)?;
        let parsed = std::panic::catch_unwind(|| Change::from_bytes(bytes.clone()))
            .map_err(|_| DocError::Corrupt("automerge panicked parsing a change".into()))?
            .map_err(|e| DocError::Corrupt(format!("not a change: {e}")))?;
        if parsed.hash().0 != header.hash {
            return Err(DocError::Corrupt(
                "change hash differs from Automerge's".into(),
            ));
        }
        Ok(ParsedChange {
            hash: header.hash,
            actor: header.actor,
            deps: header.deps,
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
