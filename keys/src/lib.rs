//! Kith identities: account and device keys, their text ids, and device certificates.
//!
//! An *account* is an ed25519 key; its public half, written as a checksummed
//! bech32m string (`kith1…`), is the id people share. Every *device* has its own
//! ed25519 key, whose id is the libp2p `PeerId` of that key. A [`DeviceCert`]
//! is the account key's signature over a device's public key, name and issue
//! time: it is what turns "some peer" into "one of this person's devices".
//!
//! Every signature Kith makes goes through [`sign::Context`], so a signature
//! made for one kind of message never verifies as another.
//!
//! This crate does no IO: callers pass in the time and store the bytes.
//!
//! ```
//! use kith_keys::{AccountKey, DeviceKey, DeviceCert};
//!
//! let account = AccountKey::generate();
//! let device = DeviceKey::generate();
//! let cert = DeviceCert::issue(&account, device.id(), "laptop", 1_700_000_000).unwrap();
//! assert!(cert.verify().is_ok());
//!
//! // Ids round-trip through text, and a typo is caught by the checksum.
//! let text = account.id().to_string();
//! assert_eq!(text.parse::<kith_keys::AccountId>().unwrap(), account.id());
//! let typo = text.replacen('q', "p", 1);
//! assert!(typo == text || typo.parse::<kith_keys::AccountId>().is_err());
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

/// Serde for an id type as its text form (`Display` / `FromStr`).
macro_rules! serde_as_text {
    ($id:ty) => {
        impl serde::Serialize for $id {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $id {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// The methods every secret-key type shares: make one, its public id, sign,
/// and hand out its seed (zeroized when dropped).
macro_rules! secret_key {
    ($key:ident, $id:ident) => {
        impl $key {
            pub fn generate() -> Self {
                $key(Secret::generate())
            }

            pub fn from_seed(seed: &[u8; KEY_LEN]) -> Self {
                $key(Secret::from_seed(seed))
            }

            pub fn id(&self) -> $id {
                $id(self.0.public())
            }

            pub fn sign(&self, context: Context, message: &[u8]) -> Signature {
                sign::sign(&self.0, context, message)
            }

            /// The 32-byte seed (for libp2p, or for handing an account key to
            /// an admin device over an authenticated channel). Zeroized when dropped.
            pub fn seed(&self) -> zeroize::Zeroizing<[u8; KEY_LEN]> {
                self.0.seed()
            }

            pub(crate) fn secret(&self) -> &Secret {
                &self.0
            }
        }
    };
}

mod account;
mod cert;
mod device;
mod error;
mod key_file;
mod memo;
pub mod paper;
mod secret;
pub mod shares;
pub mod sign;

pub use account::{AccountId, AccountKey};
pub use cert::{DeviceCert, MAX_DEVICE_NAME_LEN};
pub use device::{DeviceId, DeviceKey};
pub use error::{KeyFileError, ParseIdError, VerifyError};
pub use key_file::KeyKind;
pub use sign::Signature;

/// Length in bytes of every public key and secret seed Kith uses (ed25519).
pub const KEY_LEN: usize = 32;
#[cfg(test)]
mod vectors;
