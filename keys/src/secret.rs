//! The secret half shared by account and device keys: zeroized on drop, never printed.

use ed25519_dalek::SigningKey;

use crate::KEY_LEN;

/// An ed25519 signing key. `SigningKey` zeroizes itself on drop (dalek's
/// `zeroize` feature); this wrapper only makes sure `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct Secret(SigningKey);

impl Secret {
    pub(crate) fn generate() -> Self {
        let mut seed = zeroize::Zeroizing::new([0u8; KEY_LEN]);
        // The OS random source failing means the machine cannot make keys at
        // all; there is nothing sensible to fall back to.
        #[allow(clippy::expect_used)]
        getrandom::fill(seed.as_mut()).expect("the operating system's random source failed");
        Self::from_seed(&seed)
    }

    pub(crate) fn from_seed(seed: &[u8; KEY_LEN]) -> Self {
        Secret(SigningKey::from_bytes(seed))
    }

    pub(crate) fn seed(&self) -> zeroize::Zeroizing<[u8; KEY_LEN]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    pub(crate) fn public(&self) -> [u8; KEY_LEN] {
        self.0.verifying_key().to_bytes()
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
