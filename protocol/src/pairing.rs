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

use crate::refusal::WireRefusal;
use sha2::{Digest as _, Sha256};

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
}
