//! Suggestions from personal information: imported contacts matched against
//! identifiers people opted to be discoverable by.

use kith_protocol::records::{self, Claim};

use super::NodeActor;
use crate::{
    contacts::ContactId,
    node::{DiscoverableChange, NodeError},
    store::{ContactRecord, DiscoverableRecord, Suggestion},
    unix_now,
};

impl NodeActor {
    pub(super) fn import_contacts(&mut self, contacts: Vec<ContactId>) -> Result<usize, NodeError> {
        let records: Vec<ContactRecord> = contacts
            .into_iter()
            .map(|c| ContactRecord {
                id: records::identifier_hash(c.kind.as_str(), &c.value),
                name: c.name,
                kind: c.kind,
                value: c.value,
            })
            .collect();
        self.store.import_contacts(&records)?;
        self.look_up_contacts();
        Ok(records.len())
    }

    pub(super) fn change_discoverable(
        &mut self,
        change: DiscoverableChange,
    ) -> Result<Vec<DiscoverableRecord>, NodeError> {
        match change {
            DiscoverableChange::Add(kind, value) => {
                let value = kind.normalise(&value).ok_or_else(|| {
                    NodeError::refused(
                        "invalid_identifier",
                        format!("`{value}` is not a valid {}", kind.as_str()),
                    )
                })?;
                self.store.add_discoverable(&DiscoverableRecord {
                    kind,
                    value: value.clone(),
                    added_at: unix_now(),
                })?;
                self.publish(Claim::Discoverable {
                    id: records::identifier_hash(kind.as_str(), &value),
                });
            }
            DiscoverableChange::Remove(kind, value) => {
                let value = kind.normalise(&value).unwrap_or(value);
                if !self.store.remove_discoverable(kind, &value)? {
                    return Err(NodeError::refused(
                        "not_discoverable",
                        format!("you are not discoverable by {} {value}", kind.as_str()),
                    ));
                }
                // Our own copy goes now; copies on other nodes expire
                // (records live RECORD_TTL_SECS and are never refreshed again).
                let key = libp2p::kad::RecordKey::new(&records::identifier_key(
                    &records::identifier_hash(kind.as_str(), &value),
                ));
                self.swarm.behaviour_mut().kad.remove_record(&key);
            }
            DiscoverableChange::List => {}
        }
        Ok(self.store.discoverable()?)
    }

    /// Suggestions not yet acted on. Asking also retries look-ups of
    /// contacts not found yet (within the rate limit).
    pub(super) fn suggestions(&mut self) -> Result<Vec<Suggestion>, NodeError> {
        self.look_up_contacts();
        let me = self.identity.account();
        Ok(self
            .store
            .suggestions()?
            .into_iter()
            .filter(|s| {
                s.account != me
                    && !self.friends.doc.is_friend(&s.account)
                    && !self.friends.doc.is_blocked(&s.account)
            })
            .collect())
    }
}
