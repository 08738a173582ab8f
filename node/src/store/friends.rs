//! Friend-handshake state that stays on this device: requests in and out,
//! invites issued, and handshake messages still to deliver.

use kith_keys::AccountId;
use kith_protocol::friend::Action;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, Tree};

/// Most delivered versions of one outgoing request kept (each retry is
/// signed afresh, and the accept names the version it answers).
pub const MAX_SENT_VERSIONS: usize = 8;

/// Most handshake messages queued for one account.
pub const MAX_OUTBOX_PER_ACCOUNT: usize = 8;

pub use kith_protocol::friendship::{Direction, RequestState};

/// A friend request, incoming or outgoing, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub account: AccountId,
    pub direction: Direction,
    pub state: RequestState,
    /// The other side's display name, as it sent it.
    pub name: String,
    pub message: String,
    /// Unix seconds: when it was sent or received.
    pub at: u64,
    /// Signed requests (CBOR of `friend::Signed`): for an incoming request
    /// the one received; for an outgoing one each version delivered.
    pub signed: Vec<Vec<u8>>,
    /// Why the last delivery attempt failed, for `friend requests`.
    pub last_error: Option<String>,
    /// The friendship's proof, once made: the signed request and the signed
    /// accept (handshake bytes, one signature from each side). Kept here,
    /// on this device only: the request may carry a private message for
    /// this account alone, so the replicated friends document does not.
    #[serde(default)]
    pub proof: Option<(Vec<u8>, Vec<u8>)>,
}

/// A friend ticket this node issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteRecord {
    pub expires_at: u64,
    pub used: bool,
}

/// A device pairing ticket this node issued. The secret itself is kept
/// (the joiner proves knowledge of it with an HMAC), until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingRecord {
    pub secret: [u8; 32],
    pub expires_at: u64,
    pub used: bool,
    /// Wrong proofs seen while this ticket was open.
    pub attempts: u32,
    /// Whether the account key goes to the new device.
    pub admin: bool,
}

/// A handshake message to (re)send to an account until it is delivered.
/// Sealed afresh at each attempt so its timestamp is always current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeIntent {
    pub to: AccountId,
    pub action: Action,
    pub created_at: u64,
}

impl Store {
    /// Block `account` (local only: friends never learn whom you block).
    pub fn block(&self, account: &AccountId, since: u64) -> Result<(), StoreError> {
        self.tree(Tree::Blocked)
            .insert(account.as_bytes(), &since.to_be_bytes())?;
        Ok(())
    }

    pub fn unblock(&self, account: &AccountId) -> Result<(), StoreError> {
        self.remove(Tree::Blocked, account.as_bytes())
    }

    pub fn is_blocked(&self, account: &AccountId) -> Result<bool, StoreError> {
        Ok(self.tree(Tree::Blocked).contains_key(account.as_bytes())?)
    }

    pub fn blocked(&self) -> Result<Vec<AccountId>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree(Tree::Blocked).iter() {
            let (key, _) = entry?;
            if let Some(account) = <[u8; 32]>::try_from(key.as_ref())
                .ok()
                .and_then(|k| AccountId::from_bytes(k).ok())
            {
                out.push(account);
            }
        }
        Ok(out)
    }

    pub fn request(&self, account: &AccountId) -> Result<Option<RequestRecord>, StoreError> {
        self.get_json(Tree::Requests, account.as_bytes())
    }

    pub fn put_request(&self, record: &RequestRecord) -> Result<(), StoreError> {
        self.put_json(Tree::Requests, record.account.as_bytes(), record)
    }

    pub fn remove_request(&self, account: &AccountId) -> Result<(), StoreError> {
        self.remove(Tree::Requests, account.as_bytes())
    }

    pub fn requests(&self) -> Result<(Vec<RequestRecord>, Vec<StoreError>), StoreError> {
        let (mut all, bad) = self.all_json::<RequestRecord>(Tree::Requests)?;
        all.sort_by_key(|r| std::cmp::Reverse(r.at));
        Ok((all, bad))
    }

    pub fn put_invite(
        &self,
        secret_hash: &[u8; 32],
        invite: &InviteRecord,
    ) -> Result<(), StoreError> {
        self.put_json(Tree::Invites, secret_hash, invite)
    }

    pub fn invite(&self, secret_hash: &[u8; 32]) -> Result<Option<InviteRecord>, StoreError> {
        self.get_json(Tree::Invites, secret_hash)
    }

    /// Drop invites that expired before `now`; returns how many remain.
    pub fn prune_invites(&self, now: u64) -> Result<usize, StoreError> {
        let tree = self.tree(Tree::Invites);
        let mut left = 0;
        for entry in tree.iter() {
            let (key, value) = entry?;
            match serde_json::from_slice::<InviteRecord>(&value) {
                Ok(invite) if invite.expires_at > now && !invite.used => left += 1,
                _ => {
                    tree.remove(key)?;
                }
            }
        }
        Ok(left)
    }

    pub fn put_pairing(&self, record: &PairingRecord) -> Result<(), StoreError> {
        let key = kith_protocol::ticket::secret_hash(&record.secret);
        self.put_json(Tree::Pairings, &key, record)?;
        self.flush()
    }

    /// Pairing tickets, dropping those expired more than a day ago.
    pub fn pairings(&self, now: u64) -> Result<Vec<PairingRecord>, StoreError> {
        let (all, _) = self.all_json::<PairingRecord>(Tree::Pairings)?;
        let (keep, stale): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|p| p.expires_at + 86_400 > now);
        for p in stale {
            self.remove(
                Tree::Pairings,
                &kith_protocol::ticket::secret_hash(&p.secret),
            )?;
        }
        Ok(keep)
    }

    /// Queue a message for `intent.to`, replacing one of the same kind
    /// (a newer accept supersedes an older one), keeping the queue bounded.
    pub fn queue_handshake(&self, intent: HandshakeIntent) -> Result<(), StoreError> {
        let mut queue = self.outbox(&intent.to)?;
        queue.retain(|q| {
            std::mem::discriminant(&q.action) != std::mem::discriminant(&intent.action)
        });
        queue.push(intent.clone());
        if queue.len() > MAX_OUTBOX_PER_ACCOUNT {
            queue.remove(0);
        }
        self.put_json(Tree::Outbox, intent.to.as_bytes(), &queue)?;
        self.flush()
    }

    pub fn outbox(&self, account: &AccountId) -> Result<Vec<HandshakeIntent>, StoreError> {
        Ok(self
            .get_json(Tree::Outbox, account.as_bytes())?
            .unwrap_or_default())
    }

    /// Accounts with messages waiting.
    pub fn outbox_accounts(&self) -> Result<Vec<AccountId>, StoreError> {
        let (queues, _) = self.all_json::<Vec<HandshakeIntent>>(Tree::Outbox)?;
        Ok(queues
            .into_iter()
            .filter_map(|q| q.first().map(|i| i.to))
            .collect())
    }

    /// Forget a delivered message.
    pub fn handshake_delivered(&self, intent: &HandshakeIntent) -> Result<(), StoreError> {
        let mut queue = self.outbox(&intent.to)?;
        queue.retain(|q| q != intent);
        if queue.is_empty() {
            self.remove(Tree::Outbox, intent.to.as_bytes())?;
        } else {
            self.put_json(Tree::Outbox, intent.to.as_bytes(), &queue)?;
        }
        self.flush()
    }

    /// Forget everything queued for an account (blocked, or superseded).
    pub fn clear_outbox(&self, account: &AccountId) -> Result<(), StoreError> {
        self.remove(Tree::Outbox, account.as_bytes())
    }
}
