//! Gossip on the actor side: announcing new heads on an account's topic
//! (with small public changes inline), and acting on others' announcements.

use std::collections::HashSet;

use kith_crdt::{DocKind, Hash, friends, identity};
use kith_keys::{AccountId, DeviceId, sign::Context};
use kith_protocol::sync::{
    self, Announcement, ChangeBatch, MAX_ANNOUNCEMENT_BYTES, MAX_INLINE_BYTES, MAX_INLINE_CHANGES,
};
use libp2p::{PeerId, gossipsub};

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

/// Announcements gathered during one actor turn, at most one per document:
/// a later one for the same document carries the newer heads and, while
/// both carried their changes inline and the two still fit, both batches.
/// Bounded by the documents one turn can touch; emptied every turn.
#[derive(Default)]
pub(super) struct PendingAnnouncements {
    pending: Vec<(AccountId, DocKind, Vec<Hash>, Option<ChangeBatch>)>,
}

impl PendingAnnouncements {
    fn add(
        &mut self,
        owner: AccountId,
        kind: DocKind,
        heads: Vec<Hash>,
        inline: Option<ChangeBatch>,
    ) {
        let earlier = self
            .pending
            .iter_mut()
            .find(|(o, k, _, _)| *o == owner && *k == kind);
        match earlier {
            Some((_, _, earlier_heads, earlier_inline)) => {
                *earlier_heads = heads;
                *earlier_inline = match (earlier_inline.take(), inline) {
                    (Some(first), Some(then)) => {
                        joined(first, then).and_then(|b| inline_batch(kind, b))
                    }
                    // Followers pull what is not inline.
                    _ => None,
                };
            }
            None => self.pending.push((owner, kind, heads, inline)),
        }
    }

    fn take(&mut self) -> Vec<(AccountId, DocKind, Vec<Hash>, Option<ChangeBatch>)> {
        std::mem::take(&mut self.pending)
    }
}

/// `first`'s changes then `then`'s, in one batch (certificates shared); `None`
/// if a change names a certificate its batch does not hold.
fn joined(mut first: ChangeBatch, then: ChangeBatch) -> Option<ChangeBatch> {
    for change in then.changes {
        let cert = then.certs.get(change.cert as usize)?;
        first.push(change.bytes, change.signature, cert);
    }
    Some(first)
}

/// Announcements a peer may send that fail their checks (bad signature,
/// forged inline changes) within [`GOSSIP_STRIKE_WINDOW`] before it is
/// thrown out: no honest node sends one.
pub const MAX_GOSSIP_REJECTED: u32 = 3;

/// The window of [`MAX_GOSSIP_REJECTED`], in seconds.
pub const GOSSIP_STRIKE_WINDOW: u64 = 600;

/// Announcements a peer may send per minute that this node ignores (about
/// documents it does not keep, or from devices it cannot place) before it is
/// thrown out. Generous: honest meshes forward some such messages.
pub const MAX_GOSSIP_IGNORED_PER_MINUTE: u32 = 600;

/// What a received announcement deserves, reported back to gossipsub
/// (which forwards only accepted messages, and penalises rejected ones).
enum Verdict {
    /// Genuine and from a device that may hold the document: act, forward.
    Accept(Announcement),
    /// Not for us, or from a device we cannot place: neither act nor forward.
    Ignore(&'static str),
    /// Malformed, badly signed or carrying bad changes: no honest node
    /// sends it, so the sender is penalised.
    Reject(String),
}

impl NodeActor {
    /// Tell followers of `owner` that this node now has these heads, with
    /// the changes themselves when `inline` is given. The announcement goes
    /// out at the end of the actor's turn (`publish_announcements`), after
    /// the command that caused it has been answered: a durable edit does
    /// not wait for its announcement's signature, and several edits of one
    /// document in one turn make one announcement.
    pub(super) fn announce(
        &mut self,
        owner: AccountId,
        kind: DocKind,
        heads: Vec<Hash>,
        inline: Option<ChangeBatch>,
    ) {
        self.announcements.add(owner, kind, heads, inline);
    }

    /// Sign and publish the announcements this turn gathered.
    pub(super) fn publish_announcements(&mut self) {
        for (owner, kind, heads, inline) in self.announcements.take() {
            self.publish_announcement(owner, kind, heads, inline);
        }
    }

    fn publish_announcement(
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
        let key = &self.identity.device_key;
        let seal = |a: &Announcement| a.seal(|body| key.sign(Context::Announcement, body));
        let mut bytes = seal(&announcement);
        if bytes.len() > MAX_ANNOUNCEMENT_BYTES {
            announcement.changes = None;
            bytes = seal(&announcement);
        }
        let topic = gossipsub::IdentTopic::new(sync::topic(&owner));
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
            tracing::debug!(%owner, doc = %kind, error = %e, "announcement not published (no peers follow yet)");
        }
    }

    pub(super) fn handle_gossip_event(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let verdict = self.judge_announcement(&message);
        let acceptance = match &verdict {
            Verdict::Accept(_) => gossipsub::MessageAcceptance::Accept,
            Verdict::Ignore(why) => {
                tracing::debug!(peer = %propagation_source, why, "ignoring an announcement");
                gossipsub::MessageAcceptance::Ignore
            }
            Verdict::Reject(why) => {
                tracing::warn!(peer = %propagation_source, %why, "rejecting an announcement");
                gossipsub::MessageAcceptance::Reject
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&message_id, &propagation_source, acceptance);
        match verdict {
            Verdict::Accept(announcement) => {
                self.act_on_announcement(propagation_source, announcement)
            }
            Verdict::Ignore(_) => self.note_gossip_misuse(propagation_source, false),
            Verdict::Reject(_) => self.note_gossip_misuse(propagation_source, true),
        }
    }

    /// Every check an announcement must pass before it is acted on or
    /// forwarded, cheapest first: size and signature, topic, interest,
    /// who announced it, and the changes it carries.
    fn judge_announcement(&mut self, message: &gossipsub::Message) -> Verdict {
        let announcement = match Announcement::open(&message.data) {
            Ok(a) => a,
            Err(e) => return Verdict::Reject(e.to_string()),
        };
        let (owner, kind) = (announcement.owner, announcement.doc);
        if message.topic != gossipsub::IdentTopic::new(sync::topic(&owner)).hash() {
            return Verdict::Reject("announcement on another account's topic".into());
        }
        if !self.wanted_kinds(&owner).contains(&kind) {
            return Verdict::Ignore("a document this node does not keep");
        }
        let Some(announcer) = announcement.announcer() else {
            return Verdict::Reject("no announcing device".into());
        };
        if !self.may_announce(&announcer, &owner) {
            return Verdict::Ignore("announced by a device that may not hold the document");
        }
        if let Some(batch) = announcement.changes.clone() {
            let count = batch.changes.len() as u64;
            match self.apply_remote(owner, kind, batch, Origin::Gossip) {
                Ok(applied) if applied.forged > 0 => {
                    return Verdict::Reject(format!("{} forged inline changes", applied.forged));
                }
                Ok(applied) if applied.new => self.replication.inline += count,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "storing announced changes failed"),
            }
        }
        Verdict::Accept(announcement)
    }

    /// Whether an announcement by `device` about `owner`'s documents is
    /// worth acting on and forwarding: `device` must belong to the owner
    /// (as the owner's identity document, or a proven connection, says),
    /// to this node's account, to a friend of this node or to a friend of
    /// the owner, and not be revoked. Strangers' announcements are ignored
    /// even for public documents: junk heads would make every follower pull.
    fn may_announce(&mut self, device: &DeviceId, owner: &AccountId) -> bool {
        let owner_devices = self
            .doc_ref(owner, DocKind::Identity)
            .map(|d| identity::devices(d, owner))
            .unwrap_or_default();
        let account = if owner_devices.iter().any(|c| c.device == *device) {
            Some(*owner)
        } else {
            self.peers
                .get(&crate::net::peer_of(device))
                .and_then(|p| p.account)
        };
        let Some(account) = account else {
            return false;
        };
        !self.is_revoked(&account, device) && self.is_close(&account, owner)
    }

    /// Whether `account` is the owner, this node's account, a friend of
    /// this node, or a friend of the owner: an account that holds the
    /// owner's documents, friends-only ones included.
    fn is_close(&mut self, account: &AccountId, owner: &AccountId) -> bool {
        if account == owner
            || *account == self.identity.account()
            || friends::is_friend(self.docs.own(DocKind::Friends), account)
        {
            return true;
        }
        self.doc_ref(owner, DocKind::Friends)
            .is_some_and(|d| friends::is_friend(d, account))
    }

    /// Whether a peer of `account` may serve `owner`'s document `kind`
    /// (and so be pulled from): anyone identified for a public document,
    /// a close account (see `is_close`) for the others.
    pub(super) fn may_serve(
        &mut self,
        account: &AccountId,
        owner: &AccountId,
        kind: DocKind,
    ) -> bool {
        kind.is_public() || self.is_close(account, owner)
    }

    /// Count a peer's announcements that were rejected (no honest node
    /// sends them) or ignored; past [`MAX_GOSSIP_REJECTED`] in
    /// [`GOSSIP_STRIKE_WINDOW`], or [`MAX_GOSSIP_IGNORED_PER_MINUTE`], the
    /// peer is thrown out for a while (`peers::REJECT_FOR`).
    fn note_gossip_misuse(&mut self, peer: PeerId, rejected: bool) {
        // A friend or own device forwards relays' announcements we cannot
        // place (a friend of a friend relaying the same owner): honest
        // traffic, only invalid messages count against it.
        let close = self
            .peers
            .get(&peer)
            .and_then(|p| p.account)
            .is_some_and(|a| {
                a == self.identity.account()
                    || friends::is_friend(self.docs.own(DocKind::Friends), &a)
            });
        if close && !rejected {
            return;
        }
        let now = crate::unix_now();
        let over = if rejected {
            self.replication.gossip_rejects.strike(&peer, now)
        } else {
            self.replication.gossip_ignored.strike(&peer, now)
        };
        if over && !self.peers.is_rejected(&peer, std::time::Instant::now()) {
            let what = if rejected { "invalid" } else { "unwanted" };
            self.reject_peer(peer, format!("too many {what} announcements"));
        }
    }

    /// An accepted announcement: pull what it says is new, from a peer that
    /// may serve it (never from a stranger that merely forwarded it).
    fn act_on_announcement(&mut self, source: PeerId, announcement: Announcement) {
        let (owner, kind) = (announcement.owner, announcement.doc);
        let news = match self.doc_mut(&owner, kind) {
            Some(doc) => announcement.heads.iter().any(|h| !doc.has_change(h)),
            None => true,
        };
        if !news {
            return;
        }
        // The owner's own device, when connected, holds everything; next
        // the announcing device, which holds these heads; last the
        // forwarder, if it may hold the document.
        let announcer = announcement
            .announcer()
            .map(|d| crate::net::peer_of(&d))
            .filter(|p| self.swarm.is_connected(p));
        let forwarder = match self.peers.get(&source).and_then(|p| p.account) {
            Some(account) if self.may_serve(&account, &owner, kind) => Some(source),
            _ => None,
        };
        if let Some(peer) = self.peer_of_account(&owner).or(announcer).or(forwarder) {
            self.pull(peer, vec![(owner, kind)]);
        }
    }

    /// Stop following `account`'s announcements once it is no longer a
    /// friend (unless it is an introduced peer still connected).
    pub(super) fn unfollow(&mut self, account: &AccountId) {
        let introduced = self
            .peers
            .of_account(account)
            .any(|p| self.peers.get(&p).is_some_and(|p| p.introduced));
        let followed = *account == self.identity.account()
            || friends::is_friend(self.docs.own(DocKind::Friends), account)
            || introduced;
        if !followed && self.replication.subscribed.remove(account) {
            let topic = gossipsub::IdentTopic::new(sync::topic(account));
            self.swarm.behaviour_mut().gossipsub.unsubscribe(&topic);
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

#[cfg(test)]
mod tests {
    use kith_keys::{AccountKey, DeviceCert, DeviceKey};

    use super::*;

    fn batch_of(cert: &DeviceCert, key: &DeviceKey, changes: &[&[u8]]) -> ChangeBatch {
        let mut batch = ChangeBatch::default();
        for bytes in changes {
            batch.push(
                bytes.to_vec(),
                key.sign(Context::DocumentChange, bytes),
                cert,
            );
        }
        batch
    }

    /// Two edits of one document in a turn make one announcement with the
    /// newer heads and both changes; another document keeps its own; one
    /// edit without inline changes makes the joined announcement heads-only.
    #[test]
    fn a_turns_announcements_are_one_per_document() {
        let account = AccountKey::from_seed(&[1; 32]);
        let key = DeviceKey::from_seed(&[2; 32]);
        let cert = DeviceCert::issue(&account, key.id(), "laptop", 1).expect("cert");
        let owner = account.id();
        let (first, second): (Hash, Hash) = ([1; 32], [2; 32]);
        let mut pending = PendingAnnouncements::default();
        pending.add(
            owner,
            DocKind::Profile,
            vec![first],
            Some(batch_of(&cert, &key, &[b"a"])),
        );
        pending.add(owner, DocKind::Friends, vec![first], None);
        pending.add(
            owner,
            DocKind::Profile,
            vec![second],
            Some(batch_of(&cert, &key, &[b"b"])),
        );
        let taken = pending.take();
        assert_eq!(taken.len(), 2);
        let (_, kind, heads, inline) = &taken[0];
        assert_eq!((*kind, heads.as_slice()), (DocKind::Profile, &[second][..]));
        let inline = inline.as_ref().expect("both changes inline");
        let bytes: Vec<&[u8]> = inline.changes.iter().map(|c| c.bytes.as_slice()).collect();
        assert_eq!(bytes, [b"a".as_slice(), b"b".as_slice()]);
        assert_eq!(inline.certs.len(), 1, "one certificate shared");
        assert!(pending.take().is_empty(), "emptied by take");

        pending.add(
            owner,
            DocKind::Profile,
            vec![first],
            Some(batch_of(&cert, &key, &[b"a"])),
        );
        pending.add(owner, DocKind::Profile, vec![second], None);
        let taken = pending.take();
        assert_eq!(taken.len(), 1);
        assert!(taken[0].3.is_none(), "followers pull what is not inline");
    }
}
