//! Gossip on the actor side: announcing new heads on an account's topic
//! (with small public changes inline), and acting on others' announcements.

use std::collections::HashSet;

use kith_crdt::{DocKind, Hash, friends};
use kith_keys::AccountId;
use kith_protocol::sync::{
    self, Announcement, ChangeBatch, MAX_ANNOUNCEMENT_BYTES, MAX_INLINE_BYTES, MAX_INLINE_CHANGES,
};
use libp2p::gossipsub;

use super::{NodeActor, sync::cap};

/// Where received changes came from, which decides what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A pull: applied as they are, then announced again (followers may
    /// not have heard of them).
    Pull,
    /// An inline announcement: applied only when every dependency is here
    /// or among them (else they would wait in Automerge's queue, and the
    /// caller pulls instead), and not announced again (gossipsub already
    /// floods the announcement to every follower).
    Gossip,
}

/// The changes worth carrying inline: only for public documents (anyone may
/// follow the topic), and only while small.
pub(super) fn inline_batch(kind: DocKind, batch: ChangeBatch) -> Option<ChangeBatch> {
    let fits = batch.changes.len() <= MAX_INLINE_CHANGES && batch.size() <= MAX_INLINE_BYTES;
    (kind.is_public() && fits && !batch.changes.is_empty()).then_some(batch)
}

impl NodeActor {
    /// Tell followers of `owner` that this node now has these heads, with
    /// the changes themselves when `inline` is given.
    pub(super) fn announce(
        &mut self,
        owner: AccountId,
        kind: DocKind,
        heads: Vec<Hash>,
        inline: Option<ChangeBatch>,
    ) {
        let mut announcement = Announcement {
            owner,
            doc: kind,
            heads: cap(heads),
            by: *self.identity.device().as_bytes(),
            changes: inline,
        };
        let mut bytes = announcement.to_bytes();
        if bytes.len() > MAX_ANNOUNCEMENT_BYTES {
            announcement.changes = None;
            bytes = announcement.to_bytes();
        }
        let topic = gossipsub::IdentTopic::new(sync::topic(&owner));
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
            tracing::debug!(%owner, doc = %kind, error = %e, "announcement not published (no peers follow yet)");
        }
    }

    pub(super) fn handle_gossip_event(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message,
            ..
        } = event
        else {
            return;
        };
        let Some(announcement) = Announcement::from_bytes(&message.data) else {
            tracing::debug!(peer = %propagation_source, "ignoring a malformed announcement");
            return;
        };
        if message.topic != gossipsub::IdentTopic::new(sync::topic(&announcement.owner)).hash() {
            tracing::debug!(peer = %propagation_source, "announcement on the wrong topic");
            return;
        }
        let (owner, kind) = (announcement.owner, announcement.doc);
        if !self.wanted_kinds(&owner).contains(&kind) {
            return;
        }
        if let Some(batch) = announcement.changes {
            let count = batch.changes.len() as u64;
            match self.apply_remote(owner, kind, batch, Origin::Gossip) {
                Ok(true) => self.replication.inline += count,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "storing announced changes failed"),
            }
        }
        let news = match self.doc_mut(&owner, kind) {
            Some(doc) => announcement.heads.iter().any(|h| !doc.has_change(h)),
            None => true,
        };
        if news {
            // The owner's own device, when connected, holds everything and
            // serves us; next the announcing device, which holds these
            // heads; last the forwarder, who may be a stranger following
            // only the owner's public documents.
            let announcer = kith_keys::DeviceId::from_bytes(announcement.by)
                .ok()
                .map(|d| crate::net::peer_of(&d))
                .filter(|p| self.swarm.is_connected(p));
            let source = self
                .peer_of_account(&owner)
                .or(announcer)
                .unwrap_or(propagation_source);
            self.pull(source, vec![(owner, kind)]);
        }
    }

    /// Follow our own topic, our friends', and those of peers we meet.
    pub(super) fn update_subscriptions(&mut self, also: Option<AccountId>) {
        let mut wanted: HashSet<AccountId> = friends::accounts(self.docs.own(DocKind::Friends))
            .into_iter()
            .collect();
        wanted.insert(self.identity.account());
        wanted.extend(also);
        wanted.extend(self.replication.subscribed.iter().copied());
        for account in wanted {
            if self.replication.subscribed.insert(account) {
                let topic = gossipsub::IdentTopic::new(sync::topic(&account));
                if let Err(e) = self.swarm.behaviour_mut().gossipsub.subscribe(&topic) {
                    tracing::warn!(%account, error = %e, "cannot follow an account's announcements");
                }
            }
        }
    }
}
