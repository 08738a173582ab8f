//! Social recovery on the actor side: giving shares of the account key to
//! friends (and refreshing them when the friend set changes), holding
//! friends' shares, and answering their recovering devices.

use kith_crdt::DocKind;
use kith_keys::{AccountId, DeviceId};
use kith_protocol::{
    rate::RateLimiter,
    recovery::{ApproveError, AskBook, AskOutcome, Asking, Grant, Reply, Request, Withdrawal},
    refusal::WireRefusal,
};
use libp2p::{PeerId, request_response};

use super::NodeActor;
use crate::{
    events::Event,
    net::device_of,
    node::NodeError,
    refusal::RecoveryRefusal,
    store::{HeldShare, RecoverySetup, ShareHolder},
    unix_now,
};

/// Recovery messages one peer may send a minute (a recovering device asks
/// every `kith_protocol::recovery::ASK_INTERVAL_SECS`).
pub(crate) const MAX_RECOVERY_MESSAGES_PER_PEER_PER_MINUTE: u32 = 60;

/// The holder's state kept in memory.
#[derive(Debug)]
pub(crate) struct Holding {
    book: AskBook,
    limiter: RateLimiter<PeerId>,
}

impl Default for Holding {
    fn default() -> Self {
        Holding {
            book: AskBook::default(),
            limiter: RateLimiter::new(
                MAX_RECOVERY_MESSAGES_PER_PEER_PER_MINUTE,
                60,
                kith_protocol::limits::MAX_RATE_TRACKED_PEERS,
            ),
        }
    }
}

impl NodeActor {
    fn is_friend(&self, account: &AccountId) -> bool {
        kith_crdt::friends::is_friend(self.docs.own(DocKind::Friends), account)
    }

    /// Split the account key among `friends`, any `threshold` of whom can
    /// give it back; replaces an earlier setup (its shares stop combining
    /// with the new ones, and friends no longer chosen are told to drop
    /// theirs).
    pub(super) fn recovery_setup(
        &mut self,
        friends: Vec<AccountId>,
        threshold: u8,
    ) -> Result<RecoverySetup, NodeError> {
        if self.identity.account_key.is_none() {
            return Err(NodeError::refused(
                RecoveryRefusal::NoAccountKey,
                "this device does not hold the account key; set up recovery on the device that does",
            ));
        }
        let mut chosen: Vec<AccountId> = Vec::new();
        for friend in friends {
            if !self.is_friend(&friend) {
                return Err(NodeError::refused(
                    RecoveryRefusal::NotAFriend,
                    format!("{friend} is not a friend; only friends can hold a share"),
                ));
            }
            if !chosen.contains(&friend) {
                chosen.push(friend);
            }
        }
        let count = u8::try_from(chosen.len()).unwrap_or(u8::MAX);
        if count == 0
            || count > kith_keys::shares::MAX_SHARES
            || threshold == 0
            || threshold > count
        {
            return Err(NodeError::refused(
                RecoveryRefusal::InvalidThreshold,
                format!(
                    "choose 1 to {} friends and a threshold between 1 and their number ({count} friends, threshold {threshold})",
                    kith_keys::shares::MAX_SHARES
                ),
            ));
        }
        let previous = self.store.recovery_setup()?;
        let setup = self.give_out_shares(&chosen, threshold)?;
        if let Some(previous) = previous {
            for holder in previous.holders {
                if !chosen.contains(&holder.account) {
                    self.withdraw_share(holder.account, setup.setup);
                }
            }
        }
        Ok(setup)
    }

    /// A fresh split for `holders`, stored, then handed to those online.
    fn give_out_shares(
        &mut self,
        holders: &[AccountId],
        threshold: u8,
    ) -> Result<RecoverySetup, NodeError> {
        let key = self.identity.account_key.as_ref().ok_or_else(|| {
            NodeError::refused(RecoveryRefusal::NoAccountKey, "no account key here")
        })?;
        let count = u8::try_from(holders.len()).unwrap_or(u8::MAX);
        let shares = kith_keys::shares::split(key, threshold, count)
            .map_err(|e| NodeError::refused(RecoveryRefusal::InvalidThreshold, e.to_string()))?;
        // Milliseconds, and past the previous setup even if the clock is not.
        let previous = self.store.recovery_setup()?.map_or(0, |s| s.setup);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let id = now_ms.max(previous + 1);
        let setup = RecoverySetup {
            setup: id,
            threshold,
            holders: holders
                .iter()
                .zip(shares)
                .map(|(holder, share)| ShareHolder {
                    account: *holder,
                    holds: false,
                    share: Some(share.to_vec()),
                    error: None,
                })
                .collect(),
        };
        self.store.put_recovery_setup(&setup)?;
        tracing::info!(threshold, holders = holders.len(), "recovery shares split");
        self.send_pending_shares();
        Ok(setup)
    }

    /// Hand each share not yet confirmed to its friend, if online.
    pub(super) fn send_pending_shares(&mut self) {
        let setup = match self.store.recovery_setup() {
            Ok(Some(setup)) => setup,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the recovery setup");
                return;
            }
        };
        let Some(key) = self.identity.account_key.clone() else {
            return;
        };
        let count = u8::try_from(setup.holders.len()).unwrap_or(u8::MAX);
        for holder in setup.holders {
            let Some(share) = holder.share.filter(|_| !holder.holds) else {
                continue;
            };
            if let Some(peer) = self.peer_of_account(&holder.account) {
                let grant = Grant::issue(
                    &key,
                    holder.account,
                    setup.setup,
                    setup.threshold,
                    count,
                    share,
                );
                let request = Request::Hold { grant };
                self.tap(&peer, "recovery", || kith_protocol::wire_bytes(&request));
                self.swarm
                    .behaviour_mut()
                    .recovery
                    .send_request(&peer, request);
            }
        }
    }

    /// Tell `holder` to drop its share (best effort: a friend who removed
    /// us keeps a share that no longer combines with anyone's).
    fn withdraw_share(&mut self, holder: AccountId, setup: u64) {
        let Some(key) = self.identity.account_key.as_ref() else {
            return;
        };
        let withdrawal = Withdrawal::issue(key, holder, setup);
        if let Some(peer) = self.peer_of_account(&holder) {
            let request = Request::Withdraw { withdrawal };
            self.tap(&peer, "recovery", || kith_protocol::wire_bytes(&request));
            self.swarm
                .behaviour_mut()
                .recovery
                .send_request(&peer, request);
        }
    }

    /// A friendship ended: if that friend held a share, split anew among
    /// the rest (the old shares no longer combine with the new), or, with
    /// fewer friends left than the threshold, take every share back.
    pub(super) fn recovery_friend_removed(&mut self, account: &AccountId) {
        // A share we held for them goes too: shares are held for friends only.
        if let Err(e) = self.store.remove_held_share(account) {
            tracing::error!(error = %e, "cannot drop an ex-friend's share");
        }
        self.holding.book.forget(account);
        let setup = match self.store.recovery_setup() {
            Ok(Some(setup)) if setup.holders.iter().any(|h| h.account == *account) => setup,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the recovery setup");
                return;
            }
        };
        if self.identity.account_key.is_none() {
            return;
        }
        let rest: Vec<AccountId> = setup
            .holders
            .iter()
            .map(|h| h.account)
            .filter(|a| a != account)
            .collect();
        self.withdraw_share(*account, setup.setup);
        if rest.len() >= usize::from(setup.threshold) {
            tracing::info!(account = %account.fmt_short(), "a share holder left; refreshing the shares");
            if let Err(e) = self.give_out_shares(&rest, setup.threshold) {
                tracing::error!(error = %e, "cannot refresh the recovery shares");
            }
        } else {
            tracing::warn!(
                account = %account.fmt_short(),
                "a share holder left and too few remain for the threshold; social recovery is off until set up again"
            );
            for holder in &rest {
                self.withdraw_share(*holder, setup.setup);
            }
            if let Err(e) = self.store.remove_recovery_setup() {
                tracing::error!(error = %e, "cannot remove the recovery setup");
            }
        }
    }

    pub(super) fn recovery_status(&self) -> Result<RecoverySetup, NodeError> {
        self.store.recovery_setup()?.ok_or_else(|| {
            NodeError::refused(
                RecoveryRefusal::NotSetUp,
                "no recovery shares were given out; run `kith recovery setup`",
            )
        })
    }

    pub(super) fn recovery_requests(&mut self) -> Vec<Asking> {
        self.holding.book.list(unix_now())
    }

    /// The person read `code` from the recovering device: release our share to it.
    pub(super) fn recovery_approve(
        &mut self,
        account: AccountId,
        code: &str,
    ) -> Result<DeviceId, NodeError> {
        match self.holding.book.approve(&account, code, unix_now()) {
            Ok(device) => {
                tracing::info!(account = %account.fmt_short(), device = %device.fmt_short(), "recovery approved");
                Ok(device)
            }
            Err(ApproveError::NoRequest) => Err(NodeError::refused(
                RecoveryRefusal::NoRecoveryRequest,
                format!("no device is asking to recover {account}"),
            )),
            Err(ApproveError::WrongCode) => Err(NodeError::refused(
                RecoveryRefusal::WrongCode,
                "that code matches no device asking to recover this account; ask your friend to read it again",
            )),
            Err(ApproveError::Locked) => Err(NodeError::refused(
                RecoveryRefusal::RecoveryLocked,
                "too many wrong codes for this account; its requests are dropped for an hour",
            )),
        }
    }

    pub(super) fn handle_recovery_event(&mut self, event: request_response::Event<Request, Reply>) {
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
                let reply = self.answer_recovery(peer, request);
                if let Reply::Refused { code } = &reply {
                    tracing::info!(%peer, %code, "refused a recovery message");
                }
                self.tap_answer(&peer, "recovery", || kith_protocol::wire_bytes(&reply));
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .recovery
                    .send_response(channel, reply);
            }
            E::Message {
                peer,
                message: Message::Response { response, .. },
                ..
            } => self.recovery_reply(peer, response),
            E::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "recovery message not delivered");
            }
            E::InboundFailure { .. } | E::ResponseSent { .. } => {}
        }
    }

    fn answer_recovery(&mut self, peer: PeerId, request: Request) -> Reply {
        // Every recovery message costs a store read, some a durable write.
        if !self.holding.limiter.allow(&peer, unix_now()) {
            return Reply::refused(WireRefusal::RateLimited);
        }
        match request {
            Request::Hold { grant } => self.hold_share(grant),
            Request::Withdraw { withdrawal } => self.drop_share(withdrawal),
            Request::Ask { account } => self.answer_ask(peer, account),
        }
    }

    fn hold_share(&mut self, grant: Grant) -> Reply {
        if let Err(e) = grant.verify() {
            return Reply::refused(e.wire());
        }
        if grant.holder != self.identity.account() {
            return Reply::refused(WireRefusal::WrongAddressee);
        }
        if !self.is_friend(&grant.account) {
            return Reply::refused(WireRefusal::NotAFriend);
        }
        match self.store.held_share(&grant.account) {
            Ok(Some(held)) if held.setup > grant.setup => {
                return Reply::refused(WireRefusal::Stale);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot read held shares");
                return Reply::refused(WireRefusal::Internal);
            }
        }
        let sealed = match crate::recovery::seal(&self.identity.device_key, &grant) {
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::error!(error = %e, "cannot seal a share");
                return Reply::refused(WireRefusal::Internal);
            }
        };
        let held = HeldShare {
            account: grant.account,
            setup: grant.setup,
            sealed,
            since: unix_now(),
        };
        if let Err(e) = self.store.put_held_share(&held) {
            tracing::error!(error = %e, "cannot store a share");
            return Reply::refused(WireRefusal::Internal);
        }
        tracing::info!(account = %grant.account.fmt_short(), "holding a recovery share");
        Reply::Held { setup: grant.setup }
    }

    fn drop_share(&mut self, withdrawal: Withdrawal) -> Reply {
        if let Err(e) = withdrawal.verify() {
            return Reply::refused(e.wire());
        }
        if withdrawal.holder != self.identity.account() {
            return Reply::refused(WireRefusal::WrongAddressee);
        }
        match self.store.held_share(&withdrawal.account) {
            Ok(Some(held)) if held.setup <= withdrawal.setup => {
                if let Err(e) = self.store.remove_held_share(&withdrawal.account) {
                    tracing::error!(error = %e, "cannot drop a share");
                    return Reply::refused(WireRefusal::Internal);
                }
                self.holding.book.forget(&withdrawal.account);
                tracing::info!(account = %withdrawal.account.fmt_short(), "dropped a recovery share");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot read held shares");
                return Reply::refused(WireRefusal::Internal);
            }
        }
        Reply::Withdrawn
    }

    /// A device says it is a new device of `account`. Whether we hold a
    /// share is not told: a peer who does not hold one hears "waiting"
    /// like any other, so asking reveals nobody's share holders.
    fn answer_ask(&mut self, peer: PeerId, account: AccountId) -> Reply {
        let now = unix_now();
        let Some(device) = device_of(&peer) else {
            return Reply::refused(WireRefusal::NotADevice);
        };
        let held = match self.store.held_share(&account) {
            Ok(Some(held)) => held,
            Ok(None) => return Reply::Waiting,
            Err(e) => {
                tracing::error!(error = %e, "cannot read held shares");
                return Reply::refused(WireRefusal::Internal);
            }
        };
        self.peers.mark_recovering(&peer);
        match self.holding.book.ask(account, device, now) {
            AskOutcome::Waiting { new } => {
                if new {
                    tracing::info!(account = %account.fmt_short(), device = %device.fmt_short(), "a device asks to recover a friend's account");
                    self.emit(Event::RecoveryRequested { account, device });
                }
                Reply::Waiting
            }
            AskOutcome::Busy => Reply::refused(WireRefusal::Busy),
            AskOutcome::Approved => {
                match crate::recovery::open(&self.identity.device_key, &held.sealed) {
                    Ok(grant) => {
                        tracing::info!(account = %account.fmt_short(), device = %device.fmt_short(), "released a recovery share");
                        Reply::Share { grant }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a held share does not open");
                        Reply::refused(WireRefusal::Internal)
                    }
                }
            }
        }
    }

    /// A friend answered a share we handed over (or a withdrawal).
    fn recovery_reply(&mut self, peer: PeerId, reply: Reply) {
        let Some(account) = self.peers.get(&peer).and_then(|p| p.account) else {
            return;
        };
        let mut setup = match self.store.recovery_setup() {
            Ok(Some(setup)) => setup,
            _ => return,
        };
        let Some(holder) = setup.holders.iter_mut().find(|h| h.account == account) else {
            return;
        };
        match reply {
            Reply::Held { setup: id } if id == setup.setup => {
                holder.holds = true;
                holder.share = None;
                holder.error = None;
                tracing::info!(account = %account.fmt_short(), "a friend holds a recovery share");
                self.emit(Event::RecoveryShareHeld { account });
            }
            Reply::Refused { code } => {
                tracing::warn!(account = %account.fmt_short(), %code, "a friend refused a recovery share");
                holder.error = Some(code);
            }
            _ => return,
        }
        if let Err(e) = self.store.put_recovery_setup(&setup) {
            tracing::error!(error = %e, "cannot store the recovery setup");
        }
    }
}
