//! Social recovery on the node: friends' shares sealed at rest, and the
//! recovering device's own daemon ([`recovering`]). The wire messages and
//! the rules are `kith_protocol::recovery`; the holder's and giver's sides
//! run in the node actor (`actor::recovery`).
//!
//! A held share is sealed with XChaCha20-Poly1305 under a key derived
//! from this device's key (SHA-256 over a domain tag and the seed), so the
//! database alone (a copied `db/`, a backup of it) does not give the share
//! away; whoever has the whole home, key files included, has it.

pub mod recovering;

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use kith_keys::DeviceKey;
use kith_protocol::recovery::Grant;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;
const AAD: &[u8] = b"kith-held-share-v1";

/// Largest sealed share read back (a grant is about 200 bytes).
pub const MAX_SEALED_SHARE_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no randomness: {0}")]
    Randomness(String),
    #[error("the held share cannot be opened with this device's key")]
    Unreadable,
}

fn vault_key(device: &DeviceKey) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(b"kith-share-vault-v1\0");
    h.update(device.seed().as_slice());
    Zeroizing::new(h.finalize().into())
}

/// Seal a friend's share for storage on this device.
pub fn seal(device: &DeviceKey, grant: &Grant) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| VaultError::Randomness(e.to_string()))?;
    let plain = Zeroizing::new(grant.to_bytes());
    let cipher = XChaCha20Poly1305::new(vault_key(device).as_ref().into());
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: AAD,
            },
        )
        .map_err(|_| VaultError::Unreadable)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Open a share sealed by [`seal`] on this device, and check its signature.
pub fn open(device: &DeviceKey, sealed: &[u8]) -> Result<Grant, VaultError> {
    if sealed.len() < NONCE_LEN || sealed.len() > MAX_SEALED_SHARE_BYTES {
        return Err(VaultError::Unreadable);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(vault_key(device).as_ref().into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: AAD,
                },
            )
            .map_err(|_| VaultError::Unreadable)?,
    );
    Grant::from_bytes(&plain).map_err(|_| VaultError::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::AccountKey;

    #[test]
    fn a_sealed_share_opens_only_on_its_device() {
        let key = AccountKey::generate();
        let share = kith_keys::shares::split(&key, 1, 1).unwrap().remove(0);
        let grant = Grant::issue(&key, AccountKey::generate().id(), 1, 1, 1, share.to_vec());
        let device = DeviceKey::generate();
        let sealed = seal(&device, &grant).unwrap();
        assert!(
            !sealed.windows(share.len()).any(|w| w == share.as_slice()),
            "the share is in the clear"
        );
        assert_eq!(open(&device, &sealed).unwrap(), grant);
        assert!(open(&DeviceKey::generate(), &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[30] ^= 1;
        assert!(open(&device, &tampered).is_err());
        assert!(open(&device, &sealed[..10]).is_err());
    }
}
