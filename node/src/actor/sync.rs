//! Replication on the actor side: pulling documents over `/kith/sync/1`,
//! serving them under the serving rule, and gossip announcements.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use kith_crdt::{DocKind, friends};
use kith_keys::AccountId;
use kith_protocol::sync::{
    CheckGroup, MAX_CHECK_DOCS, MAX_HEADS, MAX_SYNC_ITEMS, PullItem, PullOutcome, PullResult,
    SyncRequest, SyncResponse, heads_digest,
};
use libp2p::{PeerId, request_response, request_response::OutboundRequestId};

use kith_protocol::{limits::MAX_RATE_TRACKED_PEERS, rate::RateLimiter};

use super::{
    NodeActor,
    gossip::{GOSSIP_STRIKE_WINDOW, MAX_GOSSIP_IGNORED_PER_MINUTE, MAX_GOSSIP_REJECTED, Origin},
    serve::{ServeBudget, SnapshotCache},
};

/// How long a requester waits after a `Busy` answer before asking again.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);

/// A pull that was denied while we believe we may read is retried once after this.
pub const DENIED_RETRY_AFTER: Duration = Duration::from_secs(2);

type DocRef = (AccountId, DocKind);

/// Most owners named in one check request (each with up to
/// [`MAX_CHECK_DOCS`] documents: about 90 bytes per owner).
pub const MAX_CHECK_GROUPS: usize = 256;

/// The actor's replication state.
#[derive(Debug)]
pub(super) struct Replication {
    /// Pulls in flight: request → (peer, documents asked for).
    inflight: HashMap<OutboundRequestId, (PeerId, Vec<DocRef>)>,
    /// Checks in flight: request → (peer, documents of each group in order).
    checks: HashMap<OutboundRequestId, (PeerId, Vec<Vec<DocRef>>)>,
    /// (peer, document) pairs being pulled; another pull waits for the answer.
    pulling: HashSet<(PeerId, DocRef)>,
    /// Pairs to pull again when the current pull ends (news arrived meanwhile).
    again: HashSet<(PeerId, DocRef)>,
    /// Pulls to retry at a time.
    retries: Vec<(Instant, PeerId, DocRef)>,
    retried: HashMap<(PeerId, DocRef), Instant>,
    pub(super) subscribed: HashSet<AccountId>,
    /// Pulls refused under the serving rule.
    pub denied: u64,
    /// Received changes that failed verification.
    pub rejected: u64,
    /// Documents answered in pulls.
    pub served: u64,
    /// Changes applied from announcements without a pull.
    pub inline: u64,
    /// Announcements per peer that failed their checks.
    pub gossip_rejects: RateLimiter<PeerId>,
    /// Announcements per peer that were ignored.
    pub gossip_ignored: RateLimiter<PeerId>,
    /// What each connected peer may still ask of us.
    pub budgets: HashMap<PeerId, ServeBudget>,
    /// Compacted snapshots for whole-document answers.
    pub snapshots: SnapshotCache,
    /// Requests answered `Busy` (over budget).
    pub busy: u64,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            inflight: HashMap::new(),
            checks: HashMap::new(),
            pulling: HashSet::new(),
            again: HashSet::new(),
            retries: Vec::new(),
            retried: HashMap::new(),
            subscribed: HashSet::new(),
            denied: 0,
            rejected: 0,
            served: 0,
            inline: 0,
            gossip_rejects: RateLimiter::new(
                MAX_GOSSIP_REJECTED,
                GOSSIP_STRIKE_WINDOW,
                MAX_RATE_TRACKED_PEERS,
            ),
            gossip_ignored: RateLimiter::new(
                MAX_GOSSIP_IGNORED_PER_MINUTE,
                60,
                MAX_RATE_TRACKED_PEERS,
            ),
            budgets: HashMap::new(),
            snapshots: SnapshotCache::default(),
            busy: 0,
        }
    }
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
            let request = SyncRequest::Pull(chunk.to_vec());
            self.tap(&peer, "sync", || kith_protocol::wire_bytes(&request));
            let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
            self.replication.inflight.insert(id, (peer, asked.to_vec()));
        }
    }

    /// Ask `peer` which of `docs` differ from its copies (a few bytes per
    /// document); the answer starts a pull of those alone.
    fn check(&mut self, peer: PeerId, docs: Vec<DocRef>) {
        let mut groups: Vec<(CheckGroup, Vec<DocRef>)> = Vec::new();
        for (owner, kind) in docs {
            // No copy here is as good as an untouched one: every document
            // starts from the shared genesis change.
            let digest = heads_digest(
                &self
                    .doc_mut(&owner, kind)
                    .map(|d| d.heads())
                    .unwrap_or_else(|| vec![kith_crdt::genesis_hash()]),
            );
            match groups.last_mut() {
                Some((group, refs))
                    if group.owner == owner && group.docs.len() < MAX_CHECK_DOCS =>
                {
                    group.docs.push((kind, digest));
                    refs.push((owner, kind));
                }
                _ => groups.push((
                    CheckGroup {
                        owner,
                        docs: vec![(kind, digest)],
                    },
                    vec![(owner, kind)],
                )),
            }
        }
        for chunk in groups.chunks(MAX_CHECK_GROUPS) {
            let (request, refs): (Vec<CheckGroup>, Vec<Vec<DocRef>>) =
                chunk.iter().cloned().unzip();
            let request = SyncRequest::Check(request);
            self.tap(&peer, "sync", || kith_protocol::wire_bytes(&request));
            let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
            self.replication.checks.insert(id, (peer, refs));
        }
    }

    /// Which of the checked documents to pull: those whose bit is set.
    fn handle_check_response(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        masks: Vec<u8>,
    ) {
        let Some((_, groups)) = self.replication.checks.remove(&request_id) else {
            return;
        };
        let differing: Vec<DocRef> = groups
            .iter()
            .zip(masks.iter().chain(std::iter::repeat(&u8::MAX)))
            .flat_map(|(refs, mask)| {
                refs.iter()
                    .enumerate()
                    .filter(move |(i, _)| mask & (1 << i) != 0)
                    .map(|(_, doc)| *doc)
            })
            .collect();
        if !differing.is_empty() {
            self.pull(peer, differing);
        }
    }

    /// A peer proved its account: check, then pull, what it may have for us.
    /// Strangers met through the DHT or mDNS are left alone: following
    /// every peer a lookup touches would replicate the whole network.
    pub(super) fn pull_on_connect(&mut self, peer: PeerId, account: AccountId) {
        let me = self.identity.account();
        let followed = account == me
            || friends::is_friend(self.docs.own(DocKind::Friends), &account)
            || self.peers.get(&peer).is_some_and(|p| p.introduced);
        // A home that knows no friends (a device recovered from its paper
        // key, an export or friends' shares, or a brand-new account) asks
        // every peer for its own documents: friends hold copies and serve
        // them to the account's devices. The peer already knows our
        // account from the hello; there is no friend list to leak yet.
        let recovering = self.my_friends().is_empty();
        if !followed {
            if recovering {
                self.check(peer, DocKind::ALL.into_iter().map(|k| (me, k)).collect());
            }
            return;
        }
        self.update_subscriptions(Some(account));
        let mut docs: Vec<DocRef> = self
            .wanted_kinds(&account)
            .into_iter()
            .map(|k| (account, k))
            .collect();
        // Our own documents only from our own devices and friends; a
        // friend's documents from them and from that friend's friends (who
        // may hold fresher copies: relay). Naming them to anyone else
        // would tell a stranger who our friends are.
        let close = account == me || friends::is_friend(self.docs.own(DocKind::Friends), &account);
        if (close || recovering) && account != me {
            docs.extend(DocKind::ALL.into_iter().map(|k| (me, k)));
        }
        for friend in self.my_friends().into_iter().filter(|f| *f != account) {
            let relays = close
                || self
                    .doc_ref(&friend, DocKind::Friends)
                    .is_some_and(|d| friends::is_friend(d, &account));
            if relays {
                docs.extend(DocKind::ALL.into_iter().map(|k| (friend, k)));
            }
        }
        self.check(peer, docs);
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
                let request_bytes = request.wire_len();
                let response = self.serve_request(peer, request, request_bytes);
                self.tap_answer(&peer, "sync", || kith_protocol::wire_bytes(&response));
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
            } => match response {
                SyncResponse::Pull(results) => self.handle_sync_response(peer, request_id, results),
                SyncResponse::Check(masks) => self.handle_check_response(peer, request_id, masks),
                SyncResponse::Busy => self.handle_busy(peer, request_id),
            },
            E::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                tracing::debug!(%peer, %error, "pull failed");
                self.replication.checks.remove(&request_id);
                self.finish_pull(request_id);
            }
            E::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "serving a pull failed")
            }
            E::ResponseSent { .. } => {}
        }
    }

    fn handle_sync_response(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        response: Vec<PullResult>,
    ) {
        let asked = self
            .replication
            .inflight
            .get(&request_id)
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
        let peer_account = self.peers.get(&peer).and_then(|p| p.account);
        let mut pull_again = Vec::new();
        for result in response {
            if !asked.contains(&(result.owner, result.doc)) {
                tracing::debug!(%peer, "ignoring an unasked-for document in a pull response");
                continue;
            }
            match result.outcome {
                PullOutcome::Changes { heads, batch, more } => {
                    let applied =
                        match self.apply_remote(result.owner, result.doc, batch, Origin::Pull) {
                            Ok(applied) => applied.new,
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
                        self.note_progress(account, result.owner, result.doc, heads);
                    }
                }
                PullOutcome::Document { doc, signed } => {
                    match self.apply_document(result.owner, result.doc, &doc, &signed) {
                        Ok(Some(heads)) => {
                            if let Some(account) = peer_account {
                                self.note_progress(account, result.owner, result.doc, heads);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => tracing::error!(error = %e, "storing a pulled document failed"),
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

    /// Remember how far a pull from `server`'s account got: the server's
    /// heads that this node now holds (with all their history). A change
    /// the server sent that was refused, failed to apply or waits for a
    /// missing dependency keeps its head out, so the next pull asks from
    /// before it and the server sends it again.
    fn note_progress(
        &mut self,
        server: AccountId,
        owner: AccountId,
        kind: DocKind,
        server_heads: Vec<kith_crdt::Hash>,
    ) {
        let held = match self.doc_mut(&owner, kind) {
            Some(doc) => kith_protocol::replication::progress(doc, &server_heads),
            None => Vec::new(),
        };
        if let Err(e) = self.store.set_sync_since(&server, &owner, kind, &held) {
            tracing::warn!(error = %e, "cannot record pull progress");
        }
    }

    /// The server is busy with us: ask again for the same documents later.
    fn handle_busy(&mut self, peer: PeerId, request_id: OutboundRequestId) {
        let mut docs: Vec<DocRef> = self
            .replication
            .checks
            .remove(&request_id)
            .map(|(_, groups)| groups.into_iter().flatten().collect())
            .unwrap_or_default();
        if let Some((_, asked)) = self.replication.inflight.get(&request_id) {
            docs.extend(asked.iter().copied());
        }
        self.finish_pull(request_id);
        let at = Instant::now() + BUSY_RETRY_AFTER;
        for doc in docs {
            let key = (peer, doc);
            if !self
                .replication
                .retries
                .iter()
                .any(|(_, p, d)| (*p, *d) == key)
            {
                self.replication.retries.push((at, peer, doc));
            }
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
}

pub(super) fn cap(mut heads: Vec<kith_crdt::Hash>) -> Vec<kith_crdt::Hash> {
    heads.truncate(MAX_HEADS);
    heads
}
