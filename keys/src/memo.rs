//! Work already done on public data, remembered: ed25519 public keys
//! already decompressed (and found valid), and signatures already verified.
//!
//! A device certificate arrives with every change and announcement, and
//! the same few account and device keys are parsed over and over: without
//! this, a friend's edit cost a receiving node four signature checks and
//! half a dozen point decompressions. The memory is keyed by exactly what
//! was checked (the key bytes; SHA-256 of key, signature and the signed
//! bytes), so a hit is the same answer the check would give again. Only
//! successes are remembered. Both tables are bounded; when one is full it
//! is emptied (a flood of new keys costs only the speed-up, never memory).

use std::{
    collections::{HashMap, HashSet},
    sync::{LazyLock, Mutex},
};

use ed25519_dalek::VerifyingKey;
use sha2::{Digest as _, Sha256};

use crate::KEY_LEN;

/// Most decompressed public keys remembered.
pub const MAX_REMEMBERED_KEYS: usize = 4096;

/// Most verified signatures remembered.
pub const MAX_REMEMBERED_SIGNATURES: usize = 16_384;

#[derive(Default)]
struct Memo {
    keys: HashMap<[u8; KEY_LEN], VerifyingKey>,
    verified: HashSet<[u8; 32]>,
}

static MEMO: LazyLock<Mutex<Memo>> = LazyLock::new(|| Mutex::new(Memo::default()));

fn memo() -> std::sync::MutexGuard<'static, Memo> {
    // The tables hold only facts; a panic elsewhere cannot leave them wrong.
    MEMO.lock().unwrap_or_else(|e| e.into_inner())
}

/// The decompressed key, if `bytes` is a valid ed25519 point.
pub(crate) fn verifying_key(bytes: &[u8; KEY_LEN]) -> Option<VerifyingKey> {
    if let Some(key) = memo().keys.get(bytes) {
        return Some(*key);
    }
    let key = VerifyingKey::from_bytes(bytes).ok()?;
    let mut memo = memo();
    if memo.keys.len() >= MAX_REMEMBERED_KEYS {
        memo.keys.clear();
    }
    memo.keys.insert(*bytes, key);
    Some(key)
}

/// What a verification is remembered by.
pub(crate) fn digest(public: &[u8; KEY_LEN], signature: &[u8; 64], signed: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(public);
    h.update(signature);
    h.update(signed);
    h.finalize().into()
}

pub(crate) fn was_verified(digest: &[u8; 32]) -> bool {
    memo().verified.contains(digest)
}

pub(crate) fn remember_verified(digest: [u8; 32]) {
    let mut memo = memo();
    if memo.verified.len() >= MAX_REMEMBERED_SIGNATURES {
        memo.verified.clear();
    }
    memo.verified.insert(digest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_points_are_not_keys_and_the_tables_stay_bounded() {
        // y = 2 is not on the curve.
        let mut bad = [0u8; KEY_LEN];
        bad[0] = 2;
        assert!(verifying_key(&bad).is_none());
        for i in 0..(MAX_REMEMBERED_SIGNATURES + 10) {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&(i as u64).to_be_bytes());
            remember_verified(d);
        }
        assert!(memo().verified.len() <= MAX_REMEMBERED_SIGNATURES);
    }
}
