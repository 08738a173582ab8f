//! Kademlia on the actor side: publishing signed records, finding an
//! account's devices, finding contacts who are discoverable, and refusing
//! records that do not verify.

use std::time::{Duration, Instant};

use kith_keys::{AccountId, sign::Context};
use kith_protocol::{
    records::{self, Body, Claim, RecordSet, SignedRecord},
    ticket::Ticket,
};
use libp2p::{
    Multiaddr,
    kad::{
        self, GetRecordOk, InboundRequest, QueryId, QueryResult, Quorum, Record, RecordKey,
        store::RecordStore as _,
    },
    multiaddr::Protocol,
    swarm::dial_opts::{DialOpts, PeerCondition},
};

use kith_crdt::DocKind;

use super::NodeActor;
use crate::{events::Event, net::peer_of, store::Suggestion, unix_now};

/// How often this node republishes its records.
pub const REPUBLISH_EVERY: Duration = Duration::from_secs(30 * 60);

/// Shortest time between two look-ups of the same account.
pub const RESOLVE_EVERY: Duration = Duration::from_secs(10);

/// Contact look-ups started per minute at most (privacy and load: see docs/privacy.md).
pub const MAX_CONTACT_LOOKUPS_PER_MINUTE: u32 = 60;

/// Shortest time between two look-ups of the same contact.
pub const CONTACT_LOOKUP_EVERY: Duration = Duration::from_secs(5);

/// What a Kademlia query was for.
#[derive(Debug, Clone)]
pub(super) enum Lookup {
    Account(AccountId),
    Contact([u8; 32]),
}

impl NodeActor {
    /// Addresses worth giving to others: concrete listen addresses and
    /// confirmed external ones, never `0.0.0.0`.
    pub(super) fn shareable_addrs(&self) -> Vec<Multiaddr> {
        let unspecified = |a: &Multiaddr| {
            a.iter().any(|p| {
                matches!(p, Protocol::Ip4(ip) if ip.is_unspecified())
                    || matches!(p, Protocol::Ip6(ip) if ip.is_unspecified())
            })
        };
        // Relayed addresses first (they work from anywhere), then confirmed
        // external ones, then what we listen on (a LAN, loopback).
        let mut out: Vec<Multiaddr> = self.reach.relayed_addrs();
        out.extend(self.swarm.external_addresses().cloned());
        out.extend(self.swarm.listeners().cloned());
        out.retain(|a| !unspecified(a));
        let mut seen = std::collections::HashSet::new();
        out.retain(|a| seen.insert(a.clone()));
        out.truncate(records::MAX_RECORD_ADDRS);
        out
    }

    pub(super) fn dial_ticket(&mut self, ticket: &Ticket) {
        let addrs: Vec<Multiaddr> = ticket
            .addrs
            .iter()
            .filter_map(|b| Multiaddr::try_from(b.clone()).ok())
            .collect();
        self.dial_device(peer_of(&ticket.device), addrs);
    }

    fn dial_device(&mut self, peer: libp2p::PeerId, addrs: Vec<Multiaddr>) {
        if addrs.is_empty() || self.swarm.is_connected(&peer) {
            return;
        }
        for addr in &addrs {
            self.swarm
                .behaviour_mut()
                .kad
                .add_address(&peer, addr.clone());
        }
        // Dial even if a dial is already under way: Kademlia may be dialling
        // the same peer at addresses it heard from others (a LAN or loopback
        // address that cannot work from here), and waiting on that dial
        // would drop the addresses this record or ticket gives.
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::Disconnected)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, error = %e, "cannot dial");
        }
    }

    /// Find a way to reach `account`: remembered addresses, then the DHT.
    pub(super) fn resolve_account(&mut self, account: AccountId) {
        let now = Instant::now();
        if self
            .last_resolve
            .get(&account)
            .is_some_and(|t| now.duration_since(*t) < RESOLVE_EVERY)
        {
            return;
        }
        self.last_resolve.insert(account, now);
        match self.store.peers_of(&account) {
            Ok(known) => {
                for peer in known {
                    let addrs = peer.addrs.iter().filter_map(|a| a.parse().ok()).collect();
                    self.dial_device(peer_of(&peer.device), addrs);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the address book"),
        }
        let id = self
            .swarm
            .behaviour_mut()
            .kad
            .get_record(RecordKey::new(&records::account_key(&account)));
        self.lookups.insert(id, Lookup::Account(account));
    }

    /// Publish this device's addresses and discoverable identifiers if due.
    pub(super) fn publish_records_if_due(&mut self, force: bool) {
        let due = self
            .last_publish
            .is_none_or(|t| t.elapsed() >= REPUBLISH_EVERY);
        if !(due || force) || self.swarm.connected_peers().next().is_none() {
            return;
        }
        self.last_publish = Some(Instant::now());
        let addrs = self.shareable_addrs().iter().map(|a| a.to_vec()).collect();
        self.publish(Claim::Addresses { addrs });
        match self.store.discoverable() {
            Ok(ids) => {
                for id in ids {
                    self.publish(Claim::Discoverable {
                        id: records::identifier_hash(id.kind.as_str(), &id.value),
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read discoverable identifiers"),
        }
    }

    pub(super) fn publish(&mut self, claim: Claim) {
        let now = unix_now();
        let mut body = Body {
            cert: self.identity.cert.clone(),
            at: now,
            claim,
        };
        let key = SignedRecord::key(&body);
        // Ours joins the set this node already keeps under that key (other
        // devices' records, others' claims), which then goes out whole.
        let existing = self
            .swarm
            .behaviour_mut()
            .kad
            .store_mut()
            .get(&RecordKey::new(&key))
            .map(|r| r.value.clone());
        body.at = RecordSet::next_at(&key, existing.as_deref(), &body.cert.device, now);
        let device = &self.identity.device_key;
        let record = SignedRecord::seal(&body, |b| device.sign(Context::DeviceRecord, b));
        let set = match RecordSet::merge(&key, existing.as_deref(), &record.to_bytes(), now) {
            Ok(set) => set,
            Err(e) => return tracing::warn!(error = %e, "cannot build a record to publish"),
        };
        let mut kad_record = Record::new(key, set.to_bytes());
        kad_record.expires = Some(Instant::now() + Duration::from_secs(records::RECORD_TTL_SECS));
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .kad
            .put_record(kad_record, Quorum::One)
        {
            tracing::warn!(error = %e, "cannot publish a record");
        }
    }

    /// Look up contacts not yet found, within the look-up rate limit.
    pub(super) fn look_up_contacts(&mut self) {
        let contacts = match self.store.contacts() {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "cannot read contacts"),
        };
        let now = Instant::now();
        for contact in contacts {
            if self
                .contact_lookups
                .get(&contact.id)
                .is_some_and(|t| now.duration_since(*t) < CONTACT_LOOKUP_EVERY)
            {
                continue;
            }
            if !self.lookup_limiter.allow(&(), unix_now()) {
                break;
            }
            self.contact_lookups.insert(contact.id, now);
            let key = RecordKey::new(&records::identifier_key(&contact.id));
            let id = self.swarm.behaviour_mut().kad.get_record(key);
            self.lookups.insert(id, Lookup::Contact(contact.id));
        }
    }

    pub(super) fn handle_kad_event(&mut self, event: kad::Event) {
        match event {
            kad::Event::InboundRequest {
                request:
                    InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => {
                let store = self.swarm.behaviour_mut().kad.store_mut();
                let existing = store.get(&record.key).map(|r| r.value.clone());
                let merged = RecordSet::merge(
                    record.key.as_ref(),
                    existing.as_deref(),
                    &record.value,
                    unix_now(),
                );
                match merged {
                    Ok(set) => {
                        let mut kept = Record::new(record.key.clone(), set.to_bytes());
                        kept.expires = record.expires;
                        if let Err(e) = store.put(kept) {
                            tracing::debug!(error = %e, "record store full");
                        }
                    }
                    Err(e) => tracing::warn!(peer = %source, error = %e, "refusing a DHT record"),
                }
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(found))),
                ..
            } => {
                if let Some(lookup) = self.lookups.get(&id).cloned() {
                    self.found_record(lookup, &found.record);
                }
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::GetRecord(Err(e)),
                ..
            } => {
                tracing::debug!(error = %e, "DHT look-up found nothing");
                self.lookups.remove(&id);
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::PutRecord(result),
                ..
            } => {
                if let Err(e) = result {
                    tracing::debug!(?id, error = %e, "publishing a record reached no peer yet");
                }
            }
            kad::Event::OutboundQueryProgressed { id, step, .. } if step.last => {
                self.lookups.remove(&id);
            }
            other => tracing::trace!(event = ?other, "kademlia"),
        }
    }

    fn found_record(&mut self, lookup: Lookup, record: &Record) {
        let members = match RecordSet::open(record.key.as_ref(), &record.value, unix_now()) {
            Ok(members) => members,
            Err(e) => return tracing::debug!(error = %e, "ignoring an invalid DHT record"),
        };
        for (_, body) in members {
            self.found_body(lookup.clone(), body);
        }
    }

    fn found_body(&mut self, lookup: Lookup, body: Body) {
        match (lookup, body.claim) {
            (Lookup::Account(account), Claim::Addresses { addrs })
                if body.cert.account == account =>
            {
                let addrs = addrs
                    .into_iter()
                    .filter_map(|b| Multiaddr::try_from(b).ok())
                    .collect();
                self.dial_device(peer_of(&body.cert.device), addrs);
            }
            (Lookup::Contact(wanted), Claim::Discoverable { id }) if id == wanted => {
                self.suggest_contact(body.cert.account, &id);
            }
            _ => tracing::debug!("a DHT record did not answer its look-up"),
        }
    }

    fn suggest_contact(&mut self, account: AccountId, id: &[u8; 32]) {
        if account == self.identity.account()
            || kith_crdt::friends::is_friend(self.docs.own(DocKind::Friends), &account)
            || self.is_blocked(&account)
        {
            return;
        }
        let Ok(Some(contact)) = self.store.contact(id) else {
            return;
        };
        let label = if contact.name.is_empty() {
            contact.value.clone()
        } else {
            format!("{} ({})", contact.name, contact.value)
        };
        // Anyone may claim any identifier: the suggestion says it is a claim.
        let reason = format!("claims to be {label} from your contacts (not verified)");
        let suggestion = Suggestion {
            account,
            name: contact.name.clone(),
            reason: reason.clone(),
            found_at: unix_now(),
        };
        if self
            .store
            .put_suggestion(&suggestion)
            .and_then(|()| self.store.flush())
            .is_ok()
        {
            tracing::info!(account = %account.fmt_short(), "a contact is on Kith");
            self.emit(Event::SuggestionFound { account, reason });
        }
    }
}

/// Look-ups in flight, by query.
pub(super) type Lookups = std::collections::HashMap<QueryId, Lookup>;
