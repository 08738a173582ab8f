//! `/kith/friend/1` on the actor side: sealing and delivering queued messages,
//! judging incoming ones, acting on replies.

use kith_crdt::DocKind;
use kith_keys::{AccountId, sign::Context};
use kith_protocol::{
    friend::{Action, Body, Opened, Reply, Signed},
    friendship::{self, Effect, Incoming, Refusal, Standing},
    refusal::WireRefusal,
};
use libp2p::{PeerId, request_response};

use super::{NodeActor, friends::Inflight};
use crate::refusal::FriendsRefusal;
use crate::{
    events::Event,
    node::{FriendOutcome, NodeError},
    store::{Direction, HandshakeIntent, MAX_SENT_VERSIONS, RequestRecord, RequestState},
    unix_now,
};

impl NodeActor {
    /// Sign a handshake message to `to`, timestamped now with a fresh nonce.
    pub(super) fn seal(&self, to: &AccountId, action: Action) -> Signed {
        let mut nonce = [0u8; 16];
        // Without randomness the nonce is still unique enough per (time,
        // content) for the replay cache; there is no better fallback.
        let _ = getrandom::fill(&mut nonce);
        let body = Body {
            from: self.identity.account(),
            to: *to,
            at: unix_now(),
            nonce,
            action,
        };
        let device = &self.identity.device_key;
        Signed::seal(&body, self.identity.cert.clone(), |bytes| {
            device.sign(Context::FriendHandshake, bytes)
        })
    }

    /// Send every queued message for `account` to one of its connected devices.
    pub(super) fn deliver_outbox(&mut self, account: &AccountId) {
        let Some(peer) = self.peer_of_account(account) else {
            return;
        };
        let queue = match self.store.outbox(account) {
            Ok(queue) => queue,
            Err(e) => return tracing::error!(error = %e, "cannot read the handshake outbox"),
        };
        for intent in queue {
            if self.friends.inflight.values().any(|f| f.intent == intent) {
                continue;
            }
            let sealed = self.seal(account, intent.action.clone());
            self.tap(&peer, "friend", || sealed.to_bytes());
            let id = self
                .swarm
                .behaviour_mut()
                .friend
                .send_request(&peer, sealed.clone());
            self.friends
                .inflight
                .insert(id, Inflight { intent, sealed });
        }
    }

    pub(super) fn handle_friend_event(&mut self, event: request_response::Event<Signed, Reply>) {
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
                let reply = self.judge_handshake(peer, &request);
                self.tap(&peer, "friend", || kith_protocol::wire_bytes(&reply));
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .friend
                    .send_response(channel, reply);
            }
            E::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(inflight) = self.friends.inflight.remove(&request_id) {
                    self.handle_handshake_reply(inflight, response);
                }
            }
            E::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                tracing::debug!(%peer, %error, "handshake message not delivered; will retry");
                if let Some(inflight) = self.friends.inflight.remove(&request_id) {
                    let account = inflight.intent.to;
                    self.note_delivery_error(&account, &error.to_string());
                    self.answer_add_waiter(
                        &account,
                        Ok(FriendOutcome {
                            account,
                            state: RequestState::Requested,
                        }),
                    );
                }
            }
            E::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound handshake failed");
            }
            E::ResponseSent { .. } => {}
        }
    }

    /// Everything an incoming handshake message must pass, then its effect.
    fn judge_handshake(&mut self, peer: PeerId, signed: &Signed) -> Reply {
        let now = unix_now();
        if !self.friends.limiter.allow(&peer, now) {
            self.friends.dropped += 1;
            tracing::debug!(%peer, "handshake rate limit hit; dropped");
            return refused(&WireRefusal::RateLimited);
        }
        let opened = match signed.open(&self.identity.account(), now, &mut self.friends.replay) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "refusing a handshake message");
                return refused(&e.refusal());
            }
        };
        match self.apply_handshake(signed, &opened) {
            Ok(reply) => reply,
            Err(e) => {
                tracing::error!(error = %e, "applying a handshake message failed");
                refused(&WireRefusal::Internal)
            }
        }
    }

    /// Where this node stands with `account`, for the friendship state machine.
    fn standing(&mut self, account: &AccountId) -> Result<Standing, NodeError> {
        let record = self.store.request(account)?;
        let versions = record
            .iter()
            .filter(|r| r.direction == Direction::Outgoing)
            .flat_map(|r| r.signed.iter())
            .filter_map(|b| Signed::from_bytes(b).ok())
            .map(|s| s.hash())
            .collect();
        let friends_doc = self.docs.own(DocKind::Friends);
        let pending = self
            .store
            .requests()?
            .0
            .iter()
            .filter(|r| r.direction == Direction::Incoming && r.state == RequestState::Pending)
            .count();
        Ok(Standing {
            record: record.as_ref().map(|r| (r.direction, r.state)),
            versions,
            friends: kith_crdt::friends::is_friend(friends_doc, account),
            blocked: self.is_blocked(account),
            pending_full: pending >= self.friends.max_pending_incoming,
        })
    }

    fn apply_handshake(&mut self, signed: &Signed, opened: &Opened) -> Result<Reply, NodeError> {
        let from = opened.body.from;
        let standing = self.standing(&from)?;
        let incoming = match &opened.body.action {
            Action::Request { invite, .. } => Incoming::Request {
                // Checked only when it could matter, so a ticket is used up
                // only by a request it lets in.
                invited: !standing.friends
                    && !standing.asked()
                    && invite.is_some_and(|secret| self.redeem_invite(&secret)),
            },
            Action::Accept { request, .. } => Incoming::Accept { request: *request },
            Action::Decline { request } => Incoming::Decline { request: *request },
            Action::Remove => Incoming::Remove,
        };
        let effect = friendship::decide(&standing, &incoming);
        match (effect, &opened.body.action) {
            (Effect::Refuse(refusal), _) => {
                if refusal != Refusal::NoSuchRequest {
                    self.friends.dropped += 1;
                }
                tracing::debug!(from = %from.fmt_short(), code = refusal.wire().code(), "refused a handshake message");
                Ok(refused(&refusal.wire()))
            }
            (Effect::AcceptNow | Effect::AcceptAgain, Action::Request { name, .. }) => {
                let accept = self.seal(
                    &from,
                    Action::Accept {
                        request: opened.hash,
                        name: self.display_name(),
                    },
                );
                if !standing.friends {
                    self.make_friend(from, name.clone(), signed, &accept)?;
                }
                Ok(Reply::Accepted {
                    accept: Box::new(accept),
                })
            }
            (Effect::Hold, Action::Request { name, message, .. }) => {
                if standing.record != Some((Direction::Incoming, RequestState::Pending))
                    && !self.friends.new_requests.allow(&(), unix_now())
                {
                    self.friends.dropped += 1;
                    return Ok(refused(&WireRefusal::Busy));
                }
                let record = RequestRecord {
                    account: from,
                    direction: Direction::Incoming,
                    state: RequestState::Pending,
                    name: name.clone(),
                    message: message.clone(),
                    at: opened.body.at,
                    signed: vec![signed.to_bytes()],
                    last_error: None,
                    proof: None,
                };
                self.store.put_request(&record)?;
                self.store.flush()?;
                tracing::info!(from = %from.fmt_short(), "friend request received");
                self.emit(Event::FriendRequestReceived {
                    account: from,
                    name: name.clone(),
                    message: message.clone(),
                });
                Ok(Reply::Received)
            }
            (Effect::Befriend, Action::Accept { request, name }) => {
                let Some(our_request) = self.sent_version(&from, request)? else {
                    return Ok(refused(&WireRefusal::NoSuchRequest));
                };
                self.make_friend(from, name.clone(), &our_request, signed)?;
                Ok(Reply::Received)
            }
            (Effect::Declined, _) => {
                if let Some(mut record) = self.store.request(&from)? {
                    record.state = RequestState::Declined;
                    self.store.put_request(&record)?;
                }
                self.clear_queued_requests(&from)?;
                self.store.flush()?;
                self.emit(Event::FriendRequestDeclined { account: from });
                Ok(Reply::Received)
            }
            (Effect::Unfriend, _) => {
                if self.edit_own(DocKind::Friends, |d| kith_crdt::friends::remove(d, &from))? {
                    if let Some(mut record) = self.store.request(&from)? {
                        record.state = RequestState::Removed;
                        self.store.put_request(&record)?;
                    }
                    self.store.flush()?;
                    tracing::info!(account = %from.fmt_short(), "removed as a friend");
                    self.emit(Event::FriendRemoved { account: from });
                    self.recovery_friend_removed(&from);
                    self.unfollow(&from);
                }
                Ok(Reply::Received)
            }
            _ => Ok(Reply::Received),
        }
    }

    /// The delivered version of our outgoing request to `account` whose
    /// hash is `hash` (the state machine has checked the request is live).
    fn sent_version(
        &self,
        account: &AccountId,
        hash: &[u8; 32],
    ) -> Result<Option<Signed>, NodeError> {
        let Some(record) = self.store.request(account)? else {
            return Ok(None);
        };
        Ok(record
            .signed
            .iter()
            .filter_map(|b| Signed::from_bytes(b).ok())
            .find(|s| &s.hash() == hash))
    }

    fn clear_queued_requests(&mut self, account: &AccountId) -> Result<(), NodeError> {
        for intent in self.store.outbox(account)? {
            if matches!(intent.action, Action::Request { .. }) {
                self.store.handshake_delivered(&intent)?;
            }
        }
        Ok(())
    }

    /// Use up a ticket secret this node issued; true if it was valid.
    fn redeem_invite(&mut self, secret: &[u8; 32]) -> bool {
        let hash = kith_protocol::ticket::secret_hash(secret);
        match self.store.invite(&hash) {
            Ok(Some(mut invite)) if !invite.used && invite.expires_at > unix_now() => {
                invite.used = true;
                let stored = self
                    .store
                    .put_invite(&hash, &invite)
                    .and_then(|()| self.store.flush());
                stored.is_ok()
            }
            _ => false,
        }
    }

    fn handle_handshake_reply(&mut self, inflight: Inflight, reply: Reply) {
        let account = inflight.intent.to;
        let result = self.apply_handshake_reply(&inflight.intent, &inflight.sealed, reply);
        if let Err(e) = &result {
            self.note_delivery_error(&account, &e.to_string());
        }
        self.answer_add_waiter(&account, result);
    }

    fn apply_handshake_reply(
        &mut self,
        intent: &HandshakeIntent,
        sealed: &Signed,
        reply: Reply,
    ) -> Result<FriendOutcome, NodeError> {
        let account = intent.to;
        let is_request = matches!(intent.action, Action::Request { .. });
        if is_request {
            self.remember_sent_version(&account, sealed)?;
        }
        match reply {
            Reply::Received => {
                self.store.handshake_delivered(intent)?;
                let state = self
                    .store
                    .request(&account)?
                    .map_or(RequestState::Requested, |r| r.state);
                Ok(FriendOutcome { account, state })
            }
            Reply::Accepted { accept } => {
                let opened = accept
                    .open(
                        &self.identity.account(),
                        unix_now(),
                        &mut self.friends.replay,
                    )
                    .map_err(|e| {
                        NodeError::refused(
                            FriendsRefusal::BadAccept,
                            format!("the accept from {account} is invalid: {e}"),
                        )
                    })?;
                let name = match opened.body.action {
                    Action::Accept { request, name }
                        if request == sealed.hash() && opened.body.from == account =>
                    {
                        name
                    }
                    _ => {
                        let message =
                            format!("the accept from {account} does not answer our request");
                        return Err(NodeError::refused(FriendsRefusal::BadAccept, message));
                    }
                };
                self.store.handshake_delivered(intent)?;
                if !kith_crdt::friends::is_friend(self.docs.own(DocKind::Friends), &account) {
                    self.make_friend(account, name, sealed, &accept)?;
                }
                Ok(FriendOutcome {
                    account,
                    state: RequestState::Friends,
                })
            }
            Reply::Refused { code } => {
                tracing::info!(account = %account.fmt_short(), %code, "handshake message refused");
                // Transient refusals are retried; the rest end the attempt.
                if !WireRefusal::from_code(&code).is_transient() {
                    self.store.handshake_delivered(intent)?;
                }
                Err(NodeError::refused(
                    FriendsRefusal::Refused,
                    format!("{account} refused: {code}"),
                ))
            }
        }
    }

    fn remember_sent_version(
        &mut self,
        account: &AccountId,
        sealed: &Signed,
    ) -> Result<(), NodeError> {
        if let Some(mut record) = self.store.request(account)? {
            record.signed.push(sealed.to_bytes());
            let excess = record.signed.len().saturating_sub(MAX_SENT_VERSIONS);
            record.signed.drain(..excess);
            self.store.put_request(&record)?;
        }
        Ok(())
    }

    fn note_delivery_error(&mut self, account: &AccountId, error: &str) {
        if let Ok(Some(mut record)) = self.store.request(account) {
            record.last_error = Some(error.to_string());
            let _ = self.store.put_request(&record);
        }
    }

    /// A connected device of `account`, if any.
    /// A connected device of `account` that `account` has not revoked (a
    /// revoked device still proves its account on connection, but holds
    /// nothing new: pulling from it, found by a test under load, left a
    /// friend without the owner's edit until the next check).
    pub(super) fn peer_of_account(&mut self, account: &AccountId) -> Option<PeerId> {
        let peers: Vec<PeerId> = self.peers.of_account(account).collect();
        peers.into_iter().find(|peer| {
            crate::net::device_of(peer).is_some_and(|device| !self.is_revoked(account, &device))
        })
    }

    pub(super) fn disconnect_account(&mut self, account: &AccountId) {
        let peers: Vec<PeerId> = self.peers.of_account(account).collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }
}

fn refused(refusal: &WireRefusal) -> Reply {
    Reply::refused(refusal)
}
