//! `/kith/recovery/1`: social recovery. An account hands each chosen friend
//! a Shamir share of its key ([`Grant`], signed by the account key); a new
//! device that lost every other asks those friends ([`Request::Ask`]) and
//! shows a [`code`] bound to its own device key, which its owner reads out
//! to each friend; a friend who types the matching code releases the share
//! to that device alone (the answer travels on the Noise-encrypted
//! connection whose peer id is that device key). `threshold` shares give
//! the key back ([`Collector`]); fewer reveal nothing.
//!
//! Pure: the holder's book of requests ([`AskBook`]) and the asker's
//! [`Collector`] take the time as an argument.

use kith_keys::{
    AccountId, AccountKey, DeviceId, Signature,
    shares::{self, MAX_SHARES, SHARE_LEN, ShareError},
    sign::{Context, Payload},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::refusal::WireRefusal;

/// The libp2p protocol name.
pub const PROTOCOL: &str = "/kith/recovery/1";

/// Largest request or reply on the wire (a grant is about 200 bytes).
pub const MAX_RECOVERY_FRAME_BYTES: u64 = 2 * 1024;

/// Most devices that may wait for approval for one account at a holder.
pub const MAX_ASKING_PER_ACCOUNT: usize = 4;

/// Most waiting requests a holder keeps in all.
pub const MAX_ASKING: usize = 64;

/// How long a request waits for approval (and an approval for its device).
pub const ASK_TTL_SECS: u64 = 24 * 3600;

/// Wrong codes typed for one account before its requests are dropped and
/// new ones refused for [`WRONG_CODE_LOCKOUT_SECS`]: a caller who guesses
/// codes (or talks a friend into trying them) gets a handful of tries.
pub const MAX_WRONG_CODES: u32 = 5;

/// How long an account's recovery stays locked after too many wrong codes.
pub const WRONG_CODE_LOCKOUT_SECS: u64 = 3600;

/// How often a recovering device asks each connected peer again.
pub const ASK_INTERVAL_SECS: u64 = 2;

/// Digits in a recovery code (about 40 bits: finding a second device key
/// with the same code takes about 2^39 key generations).
pub const CODE_DIGITS: usize = 12;

/// A share of `account`'s key for `holder`, signed by the account key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub account: AccountId,
    pub holder: AccountId,
    /// Which split this share belongs to (unix milliseconds of the setup):
    /// shares of different setups never combine, and a holder keeps only
    /// the newest.
    pub setup: u64,
    pub threshold: u8,
    pub count: u8,
    #[serde(with = "crate::friend::serde_bytes_vec")]
    pub share: Vec<u8>,
    #[serde(with = "kith_keys::sign::signature_bytes")]
    pub signature: Signature,
}

/// The account takes back every share of setups up to `setup` from `holder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub account: AccountId,
    pub holder: AccountId,
    pub setup: u64,
    #[serde(with = "kith_keys::sign::signature_bytes")]
    pub signature: Signature,
}

/// What travels on `/kith/recovery/1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// From the account's device: please hold this share.
    Hold { grant: Grant },
    /// From the account's device: drop your share.
    Withdraw { withdrawal: Withdrawal },
    /// From a recovering device (the connection's peer id): I am a new
    /// device of `account`; release your share once my owner's code is typed.
    Ask { account: AccountId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// The share is stored.
    Held {
        setup: u64,
    },
    /// The share is gone.
    Withdrawn,
    /// The request is listed; a person has to approve it with the code.
    Waiting,
    /// Approved: the share, for the asking device.
    Share {
        grant: Grant,
    },
    Refused {
        code: String,
    },
}

impl Reply {
    pub fn refused(refusal: WireRefusal) -> Self {
        Reply::Refused {
            code: refusal.code().to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    #[error("the share's signature does not verify with its account")]
    BadSignature,
    #[error("the share is malformed: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Shares(#[from] ShareError),
}

impl RecoveryError {
    pub fn wire(&self) -> WireRefusal {
        match self {
            RecoveryError::BadSignature => WireRefusal::BadSignature,
            RecoveryError::Malformed(_) | RecoveryError::Shares(_) => WireRefusal::Malformed,
        }
    }
}

impl Grant {
    /// Sign a share for `holder`.
    pub fn issue(
        key: &AccountKey,
        holder: AccountId,
        setup: u64,
        threshold: u8,
        count: u8,
        share: Vec<u8>,
    ) -> Grant {
        let mut grant = Grant {
            account: key.id(),
            holder,
            setup,
            threshold,
            count,
            share,
            signature: Signature::from_bytes(&[0; 64]),
        };
        grant.signature = key.sign(Context::RecoveryShare, &grant.signed_bytes());
        grant
    }

    fn signed_bytes(&self) -> Vec<u8> {
        Payload::new()
            .str("grant")
            .fixed(self.account.as_bytes())
            .fixed(self.holder.as_bytes())
            .u64(self.setup)
            .u64(u64::from(self.threshold))
            .u64(u64::from(self.count))
            .bytes(&self.share)
            .finish()
    }

    /// The grant as stored (CBOR, as on the wire).
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::wire_bytes(self)
    }

    /// Read a stored grant back (bounded, then verified).
    pub fn from_bytes(bytes: &[u8]) -> Result<Grant, RecoveryError> {
        if bytes.len() as u64 > MAX_RECOVERY_FRAME_BYTES {
            return Err(RecoveryError::Malformed("too long"));
        }
        let grant: Grant = cbor4ii::serde::from_slice(bytes)
            .map_err(|_| RecoveryError::Malformed("not a grant"))?;
        grant.verify()?;
        Ok(grant)
    }

    /// Shape first (cheap), then the account's signature.
    pub fn verify(&self) -> Result<(), RecoveryError> {
        if self.share.len() != SHARE_LEN {
            return Err(RecoveryError::Malformed("share length"));
        }
        if self.threshold == 0 || self.threshold > self.count || self.count > MAX_SHARES {
            return Err(RecoveryError::Malformed("threshold or count"));
        }
        self.account
            .verify(
                Context::RecoveryShare,
                &self.signed_bytes(),
                &self.signature,
            )
            .map_err(|_| RecoveryError::BadSignature)
    }
}

impl Withdrawal {
    pub fn issue(key: &AccountKey, holder: AccountId, setup: u64) -> Withdrawal {
        let mut withdrawal = Withdrawal {
            account: key.id(),
            holder,
            setup,
            signature: Signature::from_bytes(&[0; 64]),
        };
        withdrawal.signature = key.sign(Context::RecoveryShare, &withdrawal.signed_bytes());
        withdrawal
    }

    fn signed_bytes(&self) -> Vec<u8> {
        Payload::new()
            .str("withdraw")
            .fixed(self.account.as_bytes())
            .fixed(self.holder.as_bytes())
            .u64(self.setup)
            .finish()
    }

    pub fn verify(&self) -> Result<(), RecoveryError> {
        self.account
            .verify(
                Context::RecoveryShare,
                &self.signed_bytes(),
                &self.signature,
            )
            .map_err(|_| RecoveryError::BadSignature)
    }
}

/// The code a recovering `device` of `account` shows, grouped in threes
/// (`123-456-789-012`). A friend's node computes the same from the asking
/// connection's device key, so a code read out for one device approves
/// no other.
pub fn code(account: &AccountId, device: &DeviceId) -> String {
    let digits = code_digits(account, device);
    digits
        .as_bytes()
        .chunks(3)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-")
}

fn code_digits(account: &AccountId, device: &DeviceId) -> String {
    let mut h = Sha256::new();
    h.update(b"kith-recovery-code-v1\0");
    h.update(account.as_bytes());
    h.update(device.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let n = u64::from_be_bytes(first) % 10u64.pow(CODE_DIGITS as u32);
    format!("{n:0width$}", width = CODE_DIGITS)
}

/// Whether `typed` (spaces, dashes and the like ignored) is the code of
/// `device`.
pub fn code_matches(account: &AccountId, device: &DeviceId, typed: &str) -> bool {
    let typed: String = typed.chars().filter(char::is_ascii_digit).collect();
    typed == code_digits(account, device)
}

/// One recovering device waiting at a holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asking {
    pub account: AccountId,
    pub device: DeviceId,
    /// When it first asked (unix seconds).
    pub at: u64,
    pub last: u64,
    pub approved: bool,
}

/// What the holder answers an ask with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskOutcome {
    /// Listed; `new` the first time (tell the person).
    Waiting {
        new: bool,
    },
    Approved,
    /// Too many waiting, or the account is locked after wrong codes.
    Busy,
}

/// Why an approval failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApproveError {
    #[error("no device is asking to recover this account")]
    NoRequest,
    #[error("the code matches no device asking to recover this account")]
    WrongCode,
    #[error("too many wrong codes for this account; its requests are dropped for an hour")]
    Locked,
}

/// A holder's requests from recovering devices, in memory: bounded per
/// account and in all, expiring, and locked after wrong codes.
#[derive(Debug, Default)]
pub struct AskBook {
    asking: Vec<Asking>,
    /// (account, wrong codes, time of the last).
    wrong: Vec<(AccountId, u32, u64)>,
}

impl AskBook {
    fn expire(&mut self, now: u64) {
        self.asking
            .retain(|a| now.saturating_sub(a.last) < ASK_TTL_SECS);
        self.wrong
            .retain(|(_, _, at)| now.saturating_sub(*at) < WRONG_CODE_LOCKOUT_SECS);
    }

    fn locked(&self, account: &AccountId) -> bool {
        self.wrong
            .iter()
            .any(|(a, n, _)| a == account && *n >= MAX_WRONG_CODES)
    }

    /// `device` asks for its share of `account`.
    pub fn ask(&mut self, account: AccountId, device: DeviceId, now: u64) -> AskOutcome {
        self.expire(now);
        if self.locked(&account) {
            return AskOutcome::Busy;
        }
        if let Some(entry) = self
            .asking
            .iter_mut()
            .find(|a| a.account == account && a.device == device)
        {
            entry.last = now;
            return if entry.approved {
                AskOutcome::Approved
            } else {
                AskOutcome::Waiting { new: false }
            };
        }
        let for_account = self.asking.iter().filter(|a| a.account == account).count();
        if for_account >= MAX_ASKING_PER_ACCOUNT || self.asking.len() >= MAX_ASKING {
            return AskOutcome::Busy;
        }
        self.asking.push(Asking {
            account,
            device,
            at: now,
            last: now,
            approved: false,
        });
        AskOutcome::Waiting { new: true }
    }

    /// The person typed `code` for `account`: approve the device it names.
    pub fn approve(
        &mut self,
        account: &AccountId,
        typed: &str,
        now: u64,
    ) -> Result<DeviceId, ApproveError> {
        self.expire(now);
        if self.locked(account) {
            return Err(ApproveError::Locked);
        }
        if !self.asking.iter().any(|a| a.account == *account) {
            return Err(ApproveError::NoRequest);
        }
        if let Some(entry) = self
            .asking
            .iter_mut()
            .find(|a| a.account == *account && code_matches(account, &a.device, typed))
        {
            entry.approved = true;
            return Ok(entry.device);
        }
        match self.wrong.iter_mut().find(|(a, _, _)| a == account) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 = now;
            }
            None => self.wrong.push((*account, 1, now)),
        }
        if self.locked(account) {
            self.asking.retain(|a| a.account != *account);
            return Err(ApproveError::Locked);
        }
        Err(ApproveError::WrongCode)
    }

    /// Forget every request for `account` (its share was withdrawn).
    pub fn forget(&mut self, account: &AccountId) {
        self.asking.retain(|a| a.account != *account);
    }

    /// The requests still waiting or approved, oldest first.
    pub fn list(&mut self, now: u64) -> Vec<Asking> {
        self.expire(now);
        self.asking.clone()
    }
}

/// The recovering device's side: shares as they come back, combined once
/// one setup has enough.
#[derive(Debug)]
pub struct Collector {
    account: AccountId,
    /// (setup, threshold, holder, share).
    grants: Vec<Grant>,
}

impl Collector {
    pub fn new(account: AccountId) -> Self {
        Collector {
            account,
            grants: Vec::new(),
        }
    }

    pub fn account(&self) -> AccountId {
        self.account
    }

    /// Distinct holders whose shares arrived.
    pub fn received(&self) -> usize {
        self.grants.len()
    }

    /// The threshold of the newest setup heard of, if any.
    pub fn threshold(&self) -> Option<u8> {
        self.grants
            .iter()
            .max_by_key(|g| g.setup)
            .map(|g| g.threshold)
    }

    /// Take a share (verified first); the key once a setup has enough.
    pub fn add(&mut self, grant: Grant) -> Result<Option<AccountKey>, RecoveryError> {
        if grant.account != self.account {
            return Err(RecoveryError::Malformed("another account's share"));
        }
        grant.verify()?;
        if self
            .grants
            .iter()
            .any(|g| g.holder == grant.holder && g.setup == grant.setup)
        {
            return Ok(None);
        }
        if self.grants.len() >= usize::from(MAX_SHARES) * 2 {
            return Err(RecoveryError::Malformed("too many shares"));
        }
        let (setup, threshold) = (grant.setup, grant.threshold);
        self.grants.push(grant);
        let same: Vec<&[u8]> = self
            .grants
            .iter()
            .filter(|g| g.setup == setup && g.threshold == threshold)
            .map(|g| g.share.as_slice())
            .collect();
        if same.len() < usize::from(threshold) {
            return Ok(None);
        }
        Ok(Some(shares::combine(&self.account, threshold, &same)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::DeviceKey;

    fn grants(key: &AccountKey, threshold: u8, holders: &[AccountId], setup: u64) -> Vec<Grant> {
        let shares = shares::split(key, threshold, holders.len() as u8).unwrap();
        holders
            .iter()
            .zip(shares)
            .map(|(h, s)| Grant::issue(key, *h, setup, threshold, holders.len() as u8, s.to_vec()))
            .collect()
    }

    fn friends(n: usize) -> Vec<AccountId> {
        (0..n).map(|_| AccountKey::generate().id()).collect()
    }

    #[test]
    fn two_of_three_grants_recover_and_one_does_not() {
        let key = AccountKey::generate();
        let g = grants(&key, 2, &friends(3), 7);
        let mut collector = Collector::new(key.id());
        assert!(collector.add(g[2].clone()).unwrap().is_none());
        // The same holder twice is one share.
        assert!(collector.add(g[2].clone()).unwrap().is_none());
        let back = collector.add(g[0].clone()).unwrap().unwrap();
        assert_eq!(back.id(), key.id());
    }

    #[test]
    fn shares_of_different_setups_do_not_mix() {
        let key = AccountKey::generate();
        let holders = friends(3);
        let old = grants(&key, 2, &holders, 1);
        let new = grants(&key, 2, &holders, 2);
        let mut collector = Collector::new(key.id());
        assert!(collector.add(old[0].clone()).unwrap().is_none());
        assert!(collector.add(new[1].clone()).unwrap().is_none());
        assert_eq!(
            collector.add(new[2].clone()).unwrap().unwrap().id(),
            key.id()
        );
    }

    #[test]
    fn forged_or_foreign_grants_are_refused() {
        let key = AccountKey::generate();
        let mut g = grants(&key, 2, &friends(2), 1);
        let mut collector = Collector::new(key.id());
        g[0].share[3] ^= 1;
        assert_eq!(
            collector.add(g[0].clone()).err(),
            Some(RecoveryError::BadSignature)
        );
        g[1].threshold = 1;
        assert_eq!(
            collector.add(g[1].clone()).err(),
            Some(RecoveryError::BadSignature)
        );
        let other = AccountKey::generate();
        let foreign = grants(&other, 1, &friends(1), 1);
        assert!(collector.add(foreign[0].clone()).is_err());
        let mut short = grants(&key, 1, &friends(1), 1).remove(0);
        short.share.pop();
        assert!(matches!(short.verify(), Err(RecoveryError::Malformed(_))));
    }

    #[test]
    fn grants_round_trip_through_bytes() {
        let key = AccountKey::generate();
        let grant = grants(&key, 1, &friends(1), 1).remove(0);
        assert_eq!(Grant::from_bytes(&grant.to_bytes()).unwrap(), grant);
        let mut bytes = grant.to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(Grant::from_bytes(&bytes).is_err());
        assert!(Grant::from_bytes(&[0xff; 10]).is_err());
    }

    #[test]
    fn withdrawals_are_signed_by_the_account() {
        let key = AccountKey::generate();
        let holder = AccountKey::generate().id();
        let mut w = Withdrawal::issue(&key, holder, 5);
        assert!(w.verify().is_ok());
        w.setup = 6;
        assert_eq!(w.verify(), Err(RecoveryError::BadSignature));
    }

    #[test]
    fn the_code_is_bound_to_the_device() {
        let account = AccountKey::generate().id();
        let device = DeviceKey::generate().id();
        let other = DeviceKey::generate().id();
        let shown = code(&account, &device);
        assert_eq!(shown.len(), CODE_DIGITS + CODE_DIGITS / 3 - 1);
        assert!(code_matches(&account, &device, &shown));
        assert!(code_matches(&account, &device, &shown.replace('-', " ")));
        assert!(!code_matches(&account, &other, &shown));
        assert!(!code_matches(&account, &device, "000000"));
    }

    #[test]
    fn approvals_need_the_devices_code() {
        let account = AccountKey::generate().id();
        let device = DeviceKey::generate().id();
        let mut book = AskBook::default();
        assert_eq!(
            book.approve(&account, "1", 10),
            Err(ApproveError::NoRequest)
        );
        assert_eq!(
            book.ask(account, device, 10),
            AskOutcome::Waiting { new: true }
        );
        assert_eq!(
            book.ask(account, device, 12),
            AskOutcome::Waiting { new: false }
        );
        assert_eq!(
            book.approve(&account, "000-000-000-000", 13),
            Err(ApproveError::WrongCode)
        );
        assert_eq!(
            book.approve(&account, &code(&account, &device), 14),
            Ok(device)
        );
        assert_eq!(book.ask(account, device, 15), AskOutcome::Approved);
        assert_eq!(book.list(16).len(), 1);
        assert!(book.list(15 + ASK_TTL_SECS).is_empty());
    }

    #[test]
    fn requests_are_bounded_and_wrong_codes_lock_the_account() {
        let account = AccountKey::generate().id();
        let mut book = AskBook::default();
        for _ in 0..MAX_ASKING_PER_ACCOUNT {
            assert!(matches!(
                book.ask(account, DeviceKey::generate().id(), 1),
                AskOutcome::Waiting { .. }
            ));
        }
        let late = DeviceKey::generate().id();
        assert_eq!(book.ask(account, late, 1), AskOutcome::Busy);
        for _ in 1..MAX_WRONG_CODES {
            assert_eq!(book.approve(&account, "1", 2), Err(ApproveError::WrongCode));
        }
        assert_eq!(book.approve(&account, "1", 2), Err(ApproveError::Locked));
        assert!(book.list(3).is_empty());
        assert_eq!(book.ask(account, late, 4), AskOutcome::Busy);
        // The lock lifts after its time.
        assert_eq!(
            book.ask(account, late, 3 + WRONG_CODE_LOCKOUT_SECS),
            AskOutcome::Waiting { new: true }
        );
    }
}
