//! Contacts, the identifiers this account is discoverable by, and the suggestions found.

use kith_keys::AccountId;
use kith_protocol::records::IdentifierKind;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, Tree};

/// An imported contact's identifier. Kept as its hash's record so lookups
/// can be repeated; the plain value is kept to name the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecord {
    pub name: String,
    pub kind: IdentifierKind,
    pub value: String,
    pub id: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoverableRecord {
    pub kind: IdentifierKind,
    pub value: String,
    pub added_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub account: AccountId,
    pub name: String,
    pub reason: String,
    pub found_at: u64,
}

impl Store {
    /// Add contacts (replacing earlier imports of the same identifier) and flush.
    pub fn import_contacts(&self, contacts: &[ContactRecord]) -> Result<(), StoreError> {
        for contact in contacts {
            self.put_json(Tree::Contacts, &contact.id, contact)?;
        }
        self.flush()
    }

    pub fn contacts(&self) -> Result<Vec<ContactRecord>, StoreError> {
        Ok(self.all_json(Tree::Contacts)?.0)
    }

    pub fn contact(&self, id: &[u8; 32]) -> Result<Option<ContactRecord>, StoreError> {
        self.get_json(Tree::Contacts, id)
    }

    pub fn add_discoverable(&self, record: &DiscoverableRecord) -> Result<(), StoreError> {
        let key = format!("{}:{}", record.kind.as_str(), record.value);
        self.put_json(Tree::Discoverable, key.as_bytes(), record)?;
        self.flush()
    }

    /// Returns whether it was there.
    pub fn remove_discoverable(
        &self,
        kind: IdentifierKind,
        value: &str,
    ) -> Result<bool, StoreError> {
        let key = format!("{}:{value}", kind.as_str());
        let existed = self
            .tree(Tree::Discoverable)
            .remove(key.as_bytes())?
            .is_some();
        self.flush()?;
        Ok(existed)
    }

    pub fn discoverable(&self) -> Result<Vec<DiscoverableRecord>, StoreError> {
        Ok(self.all_json(Tree::Discoverable)?.0)
    }

    pub fn put_suggestion(&self, suggestion: &Suggestion) -> Result<(), StoreError> {
        self.put_json(Tree::Suggestions, suggestion.account.as_bytes(), suggestion)
    }

    pub fn suggestions(&self) -> Result<Vec<Suggestion>, StoreError> {
        Ok(self.all_json(Tree::Suggestions)?.0)
    }
}
