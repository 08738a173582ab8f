//! `/kith/pair/1`: linking a new device to an account with a one-time secret.
//!
//! The existing device prints a pairing ticket (`kithdevice1…`, see
//! [`crate::ticket`]) holding a fresh 32-byte secret. The new device dials the
//! ticket's device and proves it knows the secret without sending it:
//! `proof = HMAC-SHA256(secret, transcript)`, where the transcript binds the
//! account and both device ids of the Noise-authenticated connection, so a
//! proof is useless on any other connection. Both sides then show a short
//! confirmation code derived from the secret and transcript, as Matrix's QR
//! login does, so a person can see that the right two devices paired.

use hmac::Mac as _;
use kith_keys::{AccountId, DeviceCert, DeviceId};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::refusal::WireRefusal;

/// The libp2p protocol name.
pub const PROTOCOL: &str = "/kith/pair/1";

/// Largest pairing message, in bytes.
pub const MAX_PAIR_BYTES: u64 = 16 * 1024;

/// Wrong proofs a pairing ticket survives; then it is burned.
pub const MAX_PAIR_ATTEMPTS: u32 = 5;

/// Pairing tickets open at once.
pub const MAX_OPEN_PAIRINGS: usize = 16;

/// Default and longest validity of a pairing ticket.
pub const DEFAULT_PAIR_TTL_SECS: u64 = 10 * 60;
pub const MAX_PAIR_TTL_SECS: u64 = 24 * 60 * 60;

type HmacSha256 = hmac::Hmac<Sha256>;

/// What both sides bind the proof and the confirmation code to.
pub fn transcript(account: &AccountId, issuer: &DeviceId, joiner: &DeviceId) -> Vec<u8> {
    let mut t = b"kith-pair-v1\0".to_vec();
    t.extend_from_slice(account.as_bytes());
    t.extend_from_slice(issuer.as_bytes());
    t.extend_from_slice(joiner.as_bytes());
    t
}

pub fn proof(secret: &[u8; 32], transcript: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length, so this never falls back.
    match <HmacSha256 as hmac::KeyInit>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(transcript);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0; 32],
    }
}

/// Constant-time check of a proof.
pub fn check_proof(secret: &[u8; 32], transcript: &[u8], proof: &[u8; 32]) -> bool {
    let Ok(mut mac) = <HmacSha256 as hmac::KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(transcript);
    mac.verify_slice(proof).is_ok()
}

/// Six digits both devices show, derived from the secret and the transcript.
pub fn confirmation_code(secret: &[u8; 32], transcript: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"kith-pair-confirm-v1\0");
    h.update(secret);
    h.update(transcript);
    let digest = h.finalize();
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000;
    format!("{n:06}")
}

/// Sent by the new device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRequest {
    pub account: AccountId,
    pub device_name: String,
    pub proof: [u8; 32],
}

/// The existing device's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PairResponse {
    /// Linked: the new device's certificate, and the account key's seed
    /// when the ticket was made with `--admin`.
    Linked {
        cert: DeviceCert,
        account_seed: Option<[u8; 32]>,
    },
    /// Refused; `code` is a [`WireRefusal`]'s stable snake_case code
    /// (`expired`, `used`, `wrong_secret`, `wrong_account`, `rate_limited`,
    /// `no_account_key`, …).
    Refused { code: String },
}

impl PairResponse {
    pub fn refused(refusal: &WireRefusal) -> Self {
        PairResponse::Refused {
            code: refusal.code().to_string(),
        }
    }
}

/// An open pairing ticket, as the issuing device keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenTicket {
    pub secret: [u8; 32],
    pub expires_at: u64,
    pub used: bool,
}

/// What the issuing device knows when a pairing request arrives.
#[derive(Debug, Clone, Copy)]
pub struct Asked {
    /// Its account and device.
    pub account: AccountId,
    pub device: DeviceId,
    /// Whether it holds the account key (only such a device certifies).
    pub has_account_key: bool,
    /// The requesting peer as a device id (`None`: not an ed25519 peer).
    pub joiner: Option<DeviceId>,
    /// Whether this peer is within its rate limit.
    pub within_rate: bool,
    pub now: u64,
}

/// The issuing device's decision on a pairing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Certify `joiner`; ticket `ticket` (an index into the open tickets) is spent.
    Link {
        ticket: usize,
        joiner: DeviceId,
    },
    /// The proof fits no open ticket: an attempt counts against every open
    /// one (too many burn them), and the answer is `wrong_secret`.
    WrongSecret,
    Refuse(WireRefusal),
}

/// Decide on `request` given the open `tickets`: every check, in the order
/// that costs a guesser the most and tells it the least (the ticket's
/// state only once its secret is proven).
pub fn decide(asked: &Asked, request: &PairRequest, tickets: &[OpenTicket]) -> Decision {
    if !asked.within_rate {
        return Decision::Refuse(WireRefusal::RateLimited);
    }
    if !asked.has_account_key {
        return Decision::Refuse(WireRefusal::NoAccountKey);
    }
    let Some(joiner) = asked.joiner else {
        return Decision::Refuse(WireRefusal::NotADevice);
    };
    if request.account != asked.account {
        return Decision::Refuse(WireRefusal::WrongAccount);
    }
    if request.device_name.len() > kith_keys::MAX_DEVICE_NAME_LEN {
        return Decision::Refuse(WireRefusal::NameTooLong);
    }
    let transcript = transcript(&asked.account, &asked.device, &joiner);
    let Some(index) = tickets
        .iter()
        .position(|t| check_proof(&t.secret, &transcript, &request.proof))
    else {
        return Decision::WrongSecret;
    };
    let ticket = &tickets[index];
    if ticket.used {
        Decision::Refuse(WireRefusal::Used)
    } else if ticket.expires_at <= asked.now {
        Decision::Refuse(WireRefusal::Expired)
    } else {
        Decision::Link {
            ticket: index,
            joiner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::{AccountKey, DeviceKey};

    #[test]
    fn a_proof_binds_secret_and_both_devices() {
        let account = AccountKey::from_seed(&[1; 32]).id();
        let (issuer, joiner, other) = (
            DeviceKey::from_seed(&[2; 32]).id(),
            DeviceKey::from_seed(&[3; 32]).id(),
            DeviceKey::from_seed(&[4; 32]).id(),
        );
        let secret = [9u8; 32];
        let t = transcript(&account, &issuer, &joiner);
        let p = proof(&secret, &t);
        assert!(check_proof(&secret, &t, &p));
        assert!(!check_proof(&[8; 32], &t, &p), "wrong secret");
        assert!(
            !check_proof(&secret, &transcript(&account, &issuer, &other), &p),
            "relayed to another device"
        );
        assert_eq!(confirmation_code(&secret, &t).len(), 6);
        assert_ne!(
            confirmation_code(&secret, &t),
            confirmation_code(&secret, &transcript(&account, &issuer, &other))
        );
    }

    #[test]
    fn the_decision_checks_everything_and_spends_only_a_live_ticket() {
        let account = AccountKey::from_seed(&[1; 32]).id();
        let (issuer, joiner) = (
            DeviceKey::from_seed(&[2; 32]).id(),
            DeviceKey::from_seed(&[3; 32]).id(),
        );
        let asked = Asked {
            account,
            device: issuer,
            has_account_key: true,
            joiner: Some(joiner),
            within_rate: true,
            now: 100,
        };
        let live = OpenTicket {
            secret: [9; 32],
            expires_at: 200,
            used: false,
        };
        let other = OpenTicket {
            secret: [7; 32],
            ..live
        };
        let request = PairRequest {
            account,
            device_name: "phone".into(),
            proof: proof(&live.secret, &transcript(&account, &issuer, &joiner)),
        };
        let tickets = [other, live];
        assert_eq!(
            decide(&asked, &request, &tickets),
            Decision::Link { ticket: 1, joiner }
        );
        let refuse = |a: &Asked, r: &PairRequest, t: &[OpenTicket]| match decide(a, r, t) {
            Decision::Refuse(why) => why.code().to_string(),
            Decision::WrongSecret => "wrong_secret".into(),
            Decision::Link { .. } => "linked".into(),
        };
        let limited = Asked {
            within_rate: false,
            ..asked
        };
        assert_eq!(refuse(&limited, &request, &tickets), "rate_limited");
        let keyless = Asked {
            has_account_key: false,
            ..asked
        };
        assert_eq!(refuse(&keyless, &request, &tickets), "no_account_key");
        let no_device = Asked {
            joiner: None,
            ..asked
        };
        assert_eq!(refuse(&no_device, &request, &tickets), "not_a_device");
        let elsewhere = PairRequest {
            account: AccountKey::from_seed(&[5; 32]).id(),
            ..request.clone()
        };
        assert_eq!(refuse(&asked, &elsewhere, &tickets), "wrong_account");
        let long = PairRequest {
            device_name: "x".repeat(kith_keys::MAX_DEVICE_NAME_LEN + 1),
            ..request.clone()
        };
        assert_eq!(refuse(&asked, &long, &tickets), "name_too_long");
        assert_eq!(refuse(&asked, &request, &[other]), "wrong_secret");
        let used = OpenTicket { used: true, ..live };
        assert_eq!(refuse(&asked, &request, &[used]), "used");
        let late = Asked { now: 200, ..asked };
        assert_eq!(refuse(&late, &request, &tickets), "expired");
        // A proof for another joiner (relayed) fits no ticket.
        let relayed = Asked {
            joiner: Some(DeviceKey::from_seed(&[4; 32]).id()),
            ..asked
        };
        assert_eq!(refuse(&relayed, &request, &tickets), "wrong_secret");
    }
}
