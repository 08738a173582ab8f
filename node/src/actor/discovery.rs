//! Suggestions from personal information: imported contacts matched against
//! identifiers people opted to be discoverable by.

use std::collections::BTreeMap;

use kith_crdt::friends;
use kith_keys::AccountId;
use kith_protocol::records::{self, Claim};

use kith_crdt::DocKind;

use super::NodeActor;
use crate::refusal::FriendsRefusal;
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
                        FriendsRefusal::InvalidIdentifier,
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
                        FriendsRefusal::NotDiscoverable,
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

    /// Suggestions not yet acted on: contacts found on Kith, and friends of
    /// friends ranked by how many friends they share. Asking also retries
    /// look-ups of contacts not found yet (within the rate limit).
    pub(super) fn suggestions(&mut self) -> Result<Vec<Suggestion>, NodeError> {
        self.look_up_contacts();
        let me = self.identity.account();
        let own_friends = self.docs.own(DocKind::Friends).clone();
        let blocked = self.store.blocked()?;
        let eligible = |a: &AccountId| {
            *a != me && !friends::is_friend(&own_friends, a) && !blocked.contains(a)
        };
        let mut out: Vec<Suggestion> = self
            .store
            .suggestions()?
            .into_iter()
            .filter(|s| eligible(&s.account))
            .collect();
        let mut mutual: BTreeMap<AccountId, usize> = BTreeMap::new();
        for friend in friends::accounts(&own_friends) {
            if let Some(their_friends) = self.doc_ref(&friend, DocKind::Friends) {
                for account in friends::accounts(their_friends)
                    .into_iter()
                    .filter(|a| eligible(a))
                {
                    *mutual.entry(account).or_default() += 1;
                }
            }
        }
        let mut ranked: Vec<(AccountId, usize)> = mutual.into_iter().collect();
        ranked.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        for (account, count) in ranked {
            let reason = format!("{count} mutual friend{}", if count == 1 { "" } else { "s" });
            match out.iter_mut().find(|s| s.account == account) {
                Some(existing) => existing.reason = format!("{}; {reason}", existing.reason),
                None => {
                    let name = self.name_of(&account).unwrap_or_default();
                    out.push(Suggestion {
                        account,
                        name,
                        reason,
                        found_at: unix_now(),
                    });
                }
            }
        }
        Ok(out)
    }
}
