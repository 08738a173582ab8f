//! Friends on the actor side: tickets, requests, accept/decline/remove/block,
//! and the friends document they change.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use kith_crdt::{DocKind, Friend};
use kith_keys::AccountId;
use kith_protocol::{
    friend::{Action, Signed},
    limits::{
        MAX_FRIEND_MESSAGE_LEN, MAX_HANDSHAKES_PER_PEER_PER_MINUTE, MAX_NEW_REQUESTS_PER_MINUTE,
        MAX_RATE_TRACKED_PEERS, PENDING_REQUEST_TTL_SECS,
    },
    rate::{RateLimiter, ReplayCache},
    ticket::{Ticket, TicketKind, secret_hash},
};
use libp2p::{PeerId, request_response::OutboundRequestId};

use super::NodeActor;
use crate::refusal::FriendsRefusal;
use crate::{
    events::Event,
    node::{FriendAction, FriendInfo, FriendOutcome, FriendTarget, Invite, NodeError, Reply},
    store::{Direction, HandshakeIntent, InviteRecord, RequestRecord, RequestState},
    unix_now,
};

/// Most unexpired, unused friend tickets at once.
pub const MAX_OPEN_INVITES: usize = 256;

/// Longest a friend ticket may be valid.
pub const MAX_INVITE_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How long `friend add` with a ticket waits for the automatic accept.
pub const ADD_WAIT: Duration = Duration::from_secs(10);

/// The actor's friend state.
#[derive(Debug)]
pub(super) struct Friends {
    pub replay: ReplayCache,
    pub limiter: RateLimiter<PeerId>,
    /// New requests that wait for a decision, from everyone together.
    pub new_requests: RateLimiter<()>,
    /// Incoming handshake messages dropped (rate limit, full pending queue).
    pub dropped: u64,
    pub max_pending_incoming: usize,
    /// Handshake messages sent and not yet answered.
    pub inflight: HashMap<OutboundRequestId, Inflight>,
    /// `friend add` calls waiting for their request's reply.
    pub add_waiters: HashMap<AccountId, (Instant, Reply<FriendOutcome>)>,
}

#[derive(Debug)]
pub(super) struct Inflight {
    pub intent: HandshakeIntent,
    pub sealed: Signed,
}

impl Friends {
    pub fn new(max_pending_incoming: usize) -> Self {
        Friends {
            replay: ReplayCache::default(),
            limiter: RateLimiter::new(
                MAX_HANDSHAKES_PER_PEER_PER_MINUTE,
                60,
                MAX_RATE_TRACKED_PEERS,
            ),
            new_requests: RateLimiter::new(MAX_NEW_REQUESTS_PER_MINUTE, 60, 1),
            dropped: 0,
            max_pending_incoming,
            inflight: HashMap::new(),
            add_waiters: HashMap::new(),
        }
    }
}

impl NodeActor {
    pub(super) fn display_name(&self) -> String {
        kith_crdt::profile::get(self.docs.own(DocKind::Profile), "name")
            .or_else(|| self.store.display_name().ok().flatten())
            .unwrap_or_default()
    }

    pub(super) fn handle_invite(&mut self, ttl: Duration, reply: Reply<Invite>) {
        let _ = reply.send(self.invite(ttl));
    }

    fn invite(&mut self, ttl: Duration) -> Result<Invite, NodeError> {
        if ttl.is_zero() || ttl > MAX_INVITE_TTL {
            return Err(NodeError::refused(
                FriendsRefusal::InvalidTtl,
                format!(
                    "a ticket may be valid for 1 s to {} days",
                    MAX_INVITE_TTL.as_secs() / 86_400
                ),
            ));
        }
        let now = unix_now();
        if self.store.prune_invites(now)? >= MAX_OPEN_INVITES {
            return Err(NodeError::refused(
                FriendsRefusal::TooManyInvites,
                format!("{MAX_OPEN_INVITES} tickets are open; wait for some to be used or expire"),
            ));
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| NodeError::Network(format!("no randomness: {e}")))?;
        let expires_at = now + ttl.as_secs();
        self.store.put_invite(
            &secret_hash(&secret),
            &InviteRecord {
                expires_at,
                used: false,
            },
        )?;
        self.store.flush()?;
        let ticket = Ticket {
            kind: TicketKind::Friend,
            account: self.identity.account(),
            device: self.identity.device(),
            expires_at,
            secret,
            addrs: self.shareable_addrs().iter().map(|a| a.to_vec()).collect(),
        };
        Ok(Invite {
            ticket: ticket.to_text(),
            expires_at,
        })
    }

    pub(super) fn handle_add_friend(
        &mut self,
        target: FriendTarget,
        message: String,
        reply: Reply<FriendOutcome>,
    ) {
        match self.add_friend(target, message) {
            Ok((outcome, wait))
                if wait && !self.friends.add_waiters.contains_key(&outcome.account) =>
            {
                self.friends
                    .add_waiters
                    .insert(outcome.account, (Instant::now() + ADD_WAIT, reply));
                self.deliver_outbox(&outcome.account);
            }
            Ok((outcome, _)) => {
                let account = outcome.account;
                let _ = reply.send(Ok(outcome));
                self.deliver_outbox(&account);
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Returns the outcome so far and whether to wait for the reply.
    fn add_friend(
        &mut self,
        target: FriendTarget,
        message: String,
    ) -> Result<(FriendOutcome, bool), NodeError> {
        let now = unix_now();
        if message.len() > MAX_FRIEND_MESSAGE_LEN {
            return Err(NodeError::refused(
                FriendsRefusal::MessageTooLong,
                format!("the message is over {MAX_FRIEND_MESSAGE_LEN} bytes"),
            ));
        }
        let (account, invite, wait) = match target {
            FriendTarget::Account(account) => (account, None, false),
            FriendTarget::Ticket(ticket) => {
                ticket.check_fresh(now).map_err(|e| {
                    NodeError::refused(FriendsRefusal::TicketExpired, e.to_string())
                })?;
                if ticket.account != self.identity.account() {
                    self.dial_ticket(&ticket);
                }
                (ticket.account, Some(ticket.secret), true)
            }
        };
        if account == self.identity.account() {
            return Err(NodeError::refused(
                FriendsRefusal::OwnAccount,
                "that is your own account",
            ));
        }
        if kith_crdt::friends::is_friend(self.docs.own(DocKind::Friends), &account) {
            return Err(NodeError::refused(
                FriendsRefusal::AlreadyFriends,
                format!("{account} is already your friend"),
            ));
        }
        if self.is_blocked(&account) {
            // Asking to befriend someone is the clearest way to lift a block.
            self.store.unblock(&account)?;
        }
        // They already asked us: adding them is accepting.
        if let Some(existing) = self.store.request(&account)?
            && existing.direction == Direction::Incoming
            && existing.state == RequestState::Pending
        {
            return Ok((self.act_on_friend(account, FriendAction::Accept)?, false));
        }
        let record = RequestRecord {
            account,
            direction: Direction::Outgoing,
            state: RequestState::Requested,
            name: String::new(),
            message: message.clone(),
            at: now,
            signed: Vec::new(),
            last_error: None,
            proof: None,
        };
        self.store.put_request(&record)?;
        let action = Action::Request {
            name: self.display_name(),
            message,
            invite,
        };
        self.store.queue_handshake(HandshakeIntent {
            to: account,
            action,
            created_at: now,
        })?;
        let connected = self.peer_of_account(&account).is_some();
        if !connected {
            self.resolve_account(account);
        }
        Ok((
            FriendOutcome {
                account,
                state: RequestState::Requested,
            },
            wait || connected,
        ))
    }

    pub(super) fn handle_act_on_friend(
        &mut self,
        account: AccountId,
        action: FriendAction,
        reply: Reply<FriendOutcome>,
    ) {
        let result = self.act_on_friend(account, action);
        let _ = reply.send(result);
        self.deliver_outbox(&account);
    }

    fn act_on_friend(
        &mut self,
        account: AccountId,
        action: FriendAction,
    ) -> Result<FriendOutcome, NodeError> {
        let now = unix_now();
        let request = self.store.request(&account)?;
        let pending_incoming = request
            .clone()
            .filter(|r| r.direction == Direction::Incoming && r.state == RequestState::Pending);
        let state = match action {
            FriendAction::Accept | FriendAction::Decline => {
                let Some(mut record) = pending_incoming else {
                    return Err(NodeError::refused(
                        FriendsRefusal::NoSuchRequest,
                        format!("no pending request from {account}"),
                    ));
                };
                let signed = record
                    .signed
                    .first()
                    .and_then(|b| Signed::from_bytes(b).ok())
                    .ok_or_else(|| {
                        NodeError::refused(
                            FriendsRefusal::NoSuchRequest,
                            "the stored request is unreadable",
                        )
                    })?;
                let hash = signed.hash();
                if action == FriendAction::Accept {
                    let intent_action = Action::Accept {
                        request: hash,
                        name: self.display_name(),
                    };
                    let accept = self.seal(&account, intent_action.clone());
                    self.make_friend(account, record.name.clone(), &signed, &accept)?;
                    self.store.queue_handshake(HandshakeIntent {
                        to: account,
                        action: intent_action,
                        created_at: now,
                    })?;
                    RequestState::Friends
                } else {
                    record.state = RequestState::Declined;
                    self.store.put_request(&record)?;
                    self.store.queue_handshake(HandshakeIntent {
                        to: account,
                        action: Action::Decline { request: hash },
                        created_at: now,
                    })?;
                    RequestState::Declined
                }
            }
            FriendAction::Remove => {
                if !self.edit_own(DocKind::Friends, |d| {
                    kith_crdt::friends::remove(d, &account)
                })? {
                    return Err(NodeError::refused(
                        FriendsRefusal::NotAFriend,
                        format!("{account} is not your friend"),
                    ));
                }
                self.set_request_state(account, request, RequestState::Removed)?;
                self.store.queue_handshake(HandshakeIntent {
                    to: account,
                    action: Action::Remove,
                    created_at: now,
                })?;
                self.emit(Event::FriendRemoved { account });
                self.recovery_friend_removed(&account);
                self.unfollow(&account);
                RequestState::Removed
            }
            FriendAction::Block => {
                if account == self.identity.account() {
                    return Err(NodeError::refused(
                        FriendsRefusal::OwnAccount,
                        "that is your own account",
                    ));
                }
                let was_friend = self.edit_own(DocKind::Friends, |d| {
                    kith_crdt::friends::remove(d, &account)
                })?;
                // Kept on this device only: friends never learn whom you block.
                self.store.block(&account, now)?;
                self.store.clear_outbox(&account)?;
                self.set_request_state(account, request, RequestState::Blocked)?;
                if was_friend {
                    // A block ends the friendship on their side too.
                    self.store.queue_handshake(HandshakeIntent {
                        to: account,
                        action: Action::Remove,
                        created_at: now,
                    })?;
                    self.emit(Event::FriendRemoved { account });
                    self.recovery_friend_removed(&account);
                } else {
                    self.disconnect_account(&account);
                }
                self.unfollow(&account);
                RequestState::Blocked
            }
        };
        self.store.flush()?;
        Ok(FriendOutcome { account, state })
    }

    fn set_request_state(
        &mut self,
        account: AccountId,
        existing: Option<RequestRecord>,
        state: RequestState,
    ) -> Result<(), NodeError> {
        let mut record = existing.unwrap_or(RequestRecord {
            account,
            direction: Direction::Outgoing,
            state,
            name: String::new(),
            message: String::new(),
            at: unix_now(),
            signed: Vec::new(),
            last_error: None,
            proof: None,
        });
        record.state = state;
        self.store.put_request(&record)?;
        Ok(())
    }

    /// Record a friendship proven by `request` and `accept` (one signed by each side).
    pub(super) fn make_friend(
        &mut self,
        account: AccountId,
        name: String,
        request: &Signed,
        accept: &Signed,
    ) -> Result<(), NodeError> {
        let friend = Friend {
            account,
            name: name.clone(),
            since: unix_now(),
        };
        self.edit_own(DocKind::Friends, |d| kith_crdt::friends::add(d, &friend))?;
        let mut record = self.store.request(&account)?.unwrap_or(RequestRecord {
            account,
            direction: Direction::Outgoing,
            state: RequestState::Friends,
            name: name.clone(),
            message: String::new(),
            at: unix_now(),
            signed: Vec::new(),
            last_error: None,
            proof: None,
        });
        record.state = RequestState::Friends;
        record.name = name.clone();
        record.last_error = None;
        record.proof = Some((request.to_bytes(), accept.to_bytes()));
        self.store.put_request(&record)?;
        // A queued request to them is moot now.
        for intent in self.store.outbox(&account)? {
            if matches!(intent.action, Action::Request { .. }) {
                self.store.handshake_delivered(&intent)?;
            }
        }
        self.store.flush()?;
        tracing::info!(account = %account.fmt_short(), "friendship made");
        self.emit(Event::FriendAdded { account, name });
        // Follow the new friend and fetch the documents only friends may read.
        self.update_subscriptions(Some(account));
        if let Some(peer) = self.peer_of_account(&account) {
            let docs = DocKind::ALL.into_iter().map(|k| (account, k)).collect();
            self.pull(peer, docs);
        }
        Ok(())
    }

    /// Drop incoming requests that waited longer than
    /// `PENDING_REQUEST_TTL_SECS` for a decision.
    pub(super) fn expire_pending_requests(&mut self, now: u64) {
        let requests = match self.store.requests() {
            Ok((requests, _)) => requests,
            Err(e) => return tracing::error!(error = %e, "cannot read friend requests"),
        };
        for record in requests {
            let stale = record.direction == Direction::Incoming
                && record.state == RequestState::Pending
                && now.saturating_sub(record.at) > PENDING_REQUEST_TTL_SECS;
            if stale {
                tracing::info!(from = %record.account.fmt_short(), "an unanswered friend request expired");
                if let Err(e) = self.store.remove_request(&record.account) {
                    tracing::error!(error = %e, "cannot drop an expired request");
                }
            }
        }
    }

    /// Whether this node blocks `account` (a local list, never replicated).
    pub(super) fn is_blocked(&self, account: &AccountId) -> bool {
        self.store.is_blocked(account).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the block list; treating the account as blocked");
            true
        })
    }

    /// Move blocks an older version kept in the replicated friends document
    /// to the local store, and take them out of the document.
    pub(super) fn migrate_blocks(&mut self) {
        let old = kith_crdt::friends::blocked(self.docs.own(DocKind::Friends));
        if old.is_empty() {
            return;
        }
        let now = unix_now();
        for account in &old {
            if let Err(e) = self.store.block(account, now) {
                return tracing::error!(error = %e, "cannot move the block list to the store");
            }
        }
        let moved = self.edit_own(DocKind::Friends, |d| {
            for account in &old {
                kith_crdt::friends::unblock(d, account)?;
            }
            Ok(())
        });
        match moved {
            Ok(()) => tracing::info!(
                blocks = old.len(),
                "moved blocks out of the friends document"
            ),
            Err(e) => tracing::error!(error = %e, "cannot take blocks out of the friends document"),
        }
    }

    pub(super) fn friend_list(&mut self) -> Vec<FriendInfo> {
        let (friends, bad) = kith_crdt::friends::list(self.docs.own(DocKind::Friends));
        for key in bad {
            tracing::warn!(%key, "skipping an unreadable entry of the friends document");
        }
        friends
            .into_iter()
            .map(|f| FriendInfo {
                online: self.peer_of_account(&f.account).is_some(),
                // Their own profile's name wins over the name in the handshake.
                name: self.name_of(&f.account).unwrap_or(f.name),
                account: f.account,
                since: f.since,
            })
            .collect()
    }

    pub(super) fn friends_online(&self) -> usize {
        kith_crdt::friends::accounts(self.docs.own(DocKind::Friends))
            .iter()
            .filter(|a| self.peers.of_account(a).next().is_some())
            .count()
    }

    pub(super) fn friend_requests(&self) -> Result<Vec<RequestRecord>, NodeError> {
        let (records, bad) = self.store.requests()?;
        for e in bad {
            tracing::warn!(error = %e, "skipping an unreadable friend request record");
        }
        Ok(records)
    }

    /// Answer `friend add` calls whose wait ran out: still `requested`.
    pub(super) fn expire_add_waiters(&mut self, now: Instant) {
        let expired: Vec<AccountId> = self
            .friends
            .add_waiters
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now)
            .map(|(a, _)| *a)
            .collect();
        for account in expired {
            if let Some((_, reply)) = self.friends.add_waiters.remove(&account) {
                let _ = reply.send(Ok(FriendOutcome {
                    account,
                    state: RequestState::Requested,
                }));
            }
        }
    }

    pub(super) fn answer_add_waiter(
        &mut self,
        account: &AccountId,
        result: Result<FriendOutcome, NodeError>,
    ) {
        if let Some((_, reply)) = self.friends.add_waiters.remove(account) {
            let _ = reply.send(result);
        }
    }
}
