//! Replication on the actor side: pulling documents over `/kith/sync/1`,
//! serving them under the serving rule, and gossip announcements.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use kith_crdt::{DocKind, friends};
use kith_keys::AccountId;
use kith_protocol::sync::{
    self, Announcement, ChangeBatch, MAX_HEADS, MAX_SYNC_ITEMS, MAX_SYNC_RESPONSE_BYTES, PullItem,
    PullOutcome, PullResult, SyncRequest, SyncResponse, may_read,
};
use libp2p::{PeerId, gossipsub, request_response, request_response::OutboundRequestId};

use super::NodeActor;

/// A pull that was denied while we believe we may read is retried once after this.
pub const DENIED_RETRY_AFTER: Duration = Duration::from_secs(2);

type DocRef = (AccountId, DocKind);

/// The actor's replication state.
#[derive(Debug, Default)]
pub(super) struct Replication {
    /// Pulls in flight: request → (peer, documents asked for).
    inflight: HashMap<OutboundRequestId, (PeerId, Vec<DocRef>)>,
    /// (peer, document) pairs being pulled; another pull waits for the answer.
    pulling: HashSet<(PeerId, DocRef)>,
    /// Pairs to pull again when the current pull ends (news arrived meanwhile).
    again: HashSet<(PeerId, DocRef)>,
    /// Pulls to retry at a time.
    retries: Vec<(Instant, PeerId, DocRef)>,
    retried: HashMap<(PeerId, DocRef), Instant>,
    subscribed: HashSet<AccountId>,
    /// Pulls refused under the serving rule.
    pub denied: u64,
    /// Received changes that failed verification.
    pub rejected: u64,
}

impl NodeActor {
    fn my_friends(&self) -> Vec<AccountId> {
        friends::accounts(self.docs.own(DocKind::Friends))
    }

    /// Which of `owner`'s documents this node keeps a copy of.
    pub(super) fn wanted_kinds(&self, owner: &AccountId) -> Vec<DocKind> {
        if *owner == self.identity.account()
            || friends::is_friend(self.docs.own(DocKind::Friends), owner)
        {
            DocKind::ALL.to_vec()
        } else {
            DocKind::ALL.into_iter().filter(|k| k.is_public()).collect()
        }
    }

    /// Ask `peer` for what we lack of `docs`.
    pub(super) fn pull(&mut self, peer: PeerId, docs: Vec<DocRef>) {
        let Some(peer_account) = self.peers.get(&peer).and_then(|p| p.account) else {
            return;
        };
        let mut items = Vec::new();
        let mut asked = Vec::new();
        for (owner, kind) in docs {
            let key = (peer, (owner, kind));
            if self.replication.pulling.contains(&key) {
                self.replication.again.insert(key);
                continue;
            }
            let heads = self
                .doc_mut(&owner, kind)
                .map(|d| d.heads())
                .unwrap_or_default();
            let since = self
                .store
                .sync_since(&peer_account, &owner, kind)
                .unwrap_or_default();
            items.push(PullItem {
                owner,
                doc: kind,
                heads: cap(heads),
                since: cap(since),
            });
            asked.push((owner, kind));
            self.replication.pulling.insert(key);
        }
        for (chunk, asked) in items
            .chunks(MAX_SYNC_ITEMS)
            .zip(asked.chunks(MAX_SYNC_ITEMS))
        {
            let request = SyncRequest {
                items: chunk.to_vec(),
            };
            let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
            self.replication.inflight.insert(id, (peer, asked.to_vec()));
        }
    }

    /// A peer proved its account: pull what it may have for us.
    pub(super) fn pull_on_connect(&mut self, peer: PeerId, account: AccountId) {
        self.update_subscriptions(Some(account));
        let me = self.identity.account();
        let mut docs: Vec<DocRef> = self
            .wanted_kinds(&account)
            .into_iter()
            .map(|k| (account, k))
            .collect();
        if account != me {
            docs.extend(DocKind::ALL.into_iter().map(|k| (me, k)));
        }
        // A friend may hold fresher copies of other friends' documents (relay).
        for friend in self.my_friends().into_iter().filter(|f| *f != account) {
            if docs.len() + DocKind::ALL.len() > MAX_SYNC_ITEMS {
                break;
            }
            docs.extend(DocKind::ALL.into_iter().map(|k| (friend, k)));
        }
        self.pull(peer, docs);
    }

    pub(super) fn handle_sync_event(
        &mut self,
        event: request_response::Event<SyncRequest, SyncResponse>,
    ) {
        use request_response::{Event as E, Message};
        match event {
            E::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let response = self.serve(peer, request);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            E::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                self.handle_sync_response(peer, request_id, response);
            }
            E::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                tracing::debug!(%peer, %error, "pull failed");
                self.finish_pull(request_id);
            }
            E::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "serving a pull failed")
            }
            E::ResponseSent { .. } => {}
        }
    }

    /// Answer a pull under the serving rule: public documents to anyone,
    /// the rest only to the owner's devices and the owner's friends.
    fn serve(&mut self, peer: PeerId, request: SyncRequest) -> SyncResponse {
        let mut requester = self.peers.get(&peer).and_then(|p| p.account);
        // A revoked device counts as a stranger: public documents only.
        if let (Some(account), Some(device)) = (requester, crate::net::device_of(&peer))
            && self.is_revoked(&account, &device)
        {
            requester = None;
        }
        let mut budget = MAX_SYNC_RESPONSE_BYTES as usize * 3 / 4;
        let mut items = Vec::new();
        for item in request.items.into_iter().take(MAX_SYNC_ITEMS) {
            let outcome = self.serve_item(requester.as_ref(), &item, &mut budget);
            if matches!(outcome, PullOutcome::Denied) {
                self.replication.denied += 1;
                tracing::info!(%peer, owner = %item.owner, doc = %item.doc, "denied a pull (not a friend of the owner)");
            }
            items.push(PullResult {
                owner: item.owner,
                doc: item.doc,
                outcome,
            });
        }
        SyncResponse { items }
    }

    fn serve_item(
        &mut self,
        requester: Option<&AccountId>,
        item: &PullItem,
        budget: &mut usize,
    ) -> PullOutcome {
        let owner_friends = match self.doc_ref(&item.owner, DocKind::Friends) {
            Some(doc) => friends::accounts(doc),
            None => Vec::new(),
        };
        let allowed = match requester {
            Some(r) => may_read(item.doc, &item.owner, r, &owner_friends),
            None => item.doc.is_public(),
        };
        if !allowed {
            return PullOutcome::Denied;
        }
        let Some(doc) = self.doc_mut(&item.owner, item.doc) else {
            return PullOutcome::Unknown;
        };
        let mut have: Vec<_> = item.heads.iter().take(MAX_HEADS).copied().collect();
        have.extend(item.since.iter().take(MAX_HEADS));
        let changes = doc.changes_since(&have);
        let heads = doc.heads();
        let mut batch = ChangeBatch::default();
        let mut more = false;
        let genesis = kith_crdt::genesis_hash();
        for change in changes.into_iter().filter(|c| c.hash != genesis) {
            if change.bytes.len() + 300 > *budget {
                more = true;
                break;
            }
            match self
                .store
                .change_signature(&item.owner, item.doc, &change.hash)
            {
                Ok(Some((cert, signature))) => {
                    *budget -= change.bytes.len() + 72;
                    batch.push(change.bytes, signature, &cert);
                }
                Ok(None) => {
                    tracing::warn!(owner = %item.owner, doc = %item.doc, "a change has no stored signature; not serving it")
                }
                Err(e) => tracing::warn!(error = %e, "cannot read a change signature"),
            }
        }
        PullOutcome::Changes { heads, batch, more }
    }

    fn handle_sync_response(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        response: SyncResponse,
    ) {
        let asked = self
            .replication
            .inflight
            .get(&request_id)
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
        let peer_account = self.peers.get(&peer).and_then(|p| p.account);
        let mut pull_again = Vec::new();
        for result in response.items {
            if !asked.contains(&(result.owner, result.doc)) {
                tracing::debug!(%peer, "ignoring an unasked-for document in a pull response");
                continue;
            }
            match result.outcome {
                PullOutcome::Changes { heads, batch, more } => {
                    let applied = match self.apply_remote(result.owner, result.doc, batch) {
                        Ok(applied) => applied,
                        Err(e) => {
                            tracing::error!(error = %e, "storing pulled changes failed");
                            continue;
                        }
                    };
                    // `more` is followed only while it brings something new, so
                    // a server that never finishes cannot keep us pulling.
                    if more && applied {
                        pull_again.push((result.owner, result.doc));
                    } else if let Some(account) = peer_account {
                        let _ = self.store.set_sync_since(
                            &account,
                            &result.owner,
                            result.doc,
                            &cap(heads),
                        );
                    }
                }
                PullOutcome::Denied => self.schedule_retry(peer, (result.owner, result.doc)),
                PullOutcome::Unknown => {}
            }
        }
        self.finish_pull(request_id);
        if !pull_again.is_empty() {
            self.pull(peer, pull_again);
        }
    }

    fn finish_pull(&mut self, request_id: OutboundRequestId) {
        let Some((peer, asked)) = self.replication.inflight.remove(&request_id) else {
            return;
        };
        let mut again = Vec::new();
        for doc in asked {
            self.replication.pulling.remove(&(peer, doc));
            if self.replication.again.remove(&(peer, doc)) {
                again.push(doc);
            }
        }
        if !again.is_empty() {
            self.pull(peer, again);
        }
    }

    /// A denial can be a race (the server has not yet seen our certificate
    /// or our friendship): retry once, if we think we may read.
    fn schedule_retry(&mut self, peer: PeerId, doc: DocRef) {
        let entitled = doc.0 == self.identity.account()
            || friends::is_friend(self.docs.own(DocKind::Friends), &doc.0);
        let now = Instant::now();
        let recently = self
            .replication
            .retried
            .get(&(peer, doc))
            .is_some_and(|t| now.duration_since(*t) < DENIED_RETRY_AFTER * 5);
        if entitled && !recently {
            self.replication.retried.insert((peer, doc), now);
            self.replication
                .retries
                .push((now + DENIED_RETRY_AFTER, peer, doc));
        }
    }

    pub(super) fn run_due_retries(&mut self, now: Instant) {
        let (due, later): (Vec<_>, Vec<_>) = self
            .replication
            .retries
            .drain(..)
            .partition(|(t, _, _)| *t <= now);
        self.replication.retries = later;
        for (_, peer, doc) in due {
            if self.swarm.is_connected(&peer) {
                self.pull(peer, vec![doc]);
            }
        }
        self.replication
            .retried
            .retain(|_, t| now.duration_since(*t) < DENIED_RETRY_AFTER * 10);
    }

    /// Tell followers of `owner` that this node now has these heads.
    pub(super) fn announce(
        &mut self,
        owner: AccountId,
        kind: DocKind,
        heads: Vec<kith_crdt::Hash>,
    ) {
        let announcement = Announcement {
            owner,
            doc: kind,
            heads: cap(heads),
        };
        let topic = gossipsub::IdentTopic::new(sync::topic(&owner));
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, announcement.to_bytes())
        {
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
        if !self
            .wanted_kinds(&announcement.owner)
            .contains(&announcement.doc)
        {
            return;
        }
        let news = match self.doc_mut(&announcement.owner, announcement.doc) {
            Some(doc) => announcement.heads.iter().any(|h| !doc.has_change(h)),
            None => true,
        };
        if news {
            let doc = (announcement.owner, announcement.doc);
            self.pull(propagation_source, vec![doc]);
            if let Some(origin) = message
                .source
                .filter(|o| *o != propagation_source && self.swarm.is_connected(o))
            {
                self.pull(origin, vec![doc]);
            }
        }
    }

    /// Follow our own topic, our friends', and those of peers we meet.
    pub(super) fn update_subscriptions(&mut self, also: Option<AccountId>) {
        let mut wanted: HashSet<AccountId> = self.my_friends().into_iter().collect();
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

fn cap(mut heads: Vec<kith_crdt::Hash>) -> Vec<kith_crdt::Hash> {
    heads.truncate(MAX_HEADS);
    heads
}
