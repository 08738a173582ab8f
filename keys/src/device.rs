//! A device: its own ed25519 key, whose id is the libp2p `PeerId` of that key.

use std::{fmt, str::FromStr};

use crate::{
    KEY_LEN, ParseIdError,
    secret::Secret,
    sign::{self, Context, Signature},
};

/// Bytes of a libp2p `PeerId` for an ed25519 key, before the key itself:
/// identity multihash (code 0x00, length 36) of the protobuf `PublicKey`
/// message (field 1 `KeyType::Ed25519` = 1, field 2 bytes of length 32).
const PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// The public id of a device. Its text form is exactly the libp2p `PeerId`
/// text (`12D3KooW…`) of the device key, so logs, multiaddrs and `kith`
/// output all name a device the same way.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId([u8; KEY_LEN]);

impl DeviceId {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, ParseIdError> {
        crate::memo::verifying_key(&bytes).ok_or(ParseIdError::InvalidKey)?;
        Ok(DeviceId(bytes))
    }

    /// The device's ed25519 public key.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The multihash bytes libp2p uses for this device's `PeerId`.
    pub fn to_peer_id_bytes(&self) -> Vec<u8> {
        let mut out = PEER_ID_PREFIX.to_vec();
        out.extend_from_slice(&self.0);
        out
    }

    /// Read a `PeerId`'s multihash bytes; only ed25519 peer ids are devices.
    pub fn from_peer_id_bytes(bytes: &[u8]) -> Result<Self, ParseIdError> {
        let key = bytes
            .strip_prefix(&PEER_ID_PREFIX[..])
            .ok_or(ParseIdError::NotDeviceId)?;
        let key: [u8; KEY_LEN] = key
            .try_into()
            .map_err(|_| ParseIdError::Length(key.len()))?;
        DeviceId::from_bytes(key)
    }

    /// The last characters of the peer id text: the first ones are the same
    /// (`12D3KooW`) for every ed25519 key.
    pub fn fmt_short(&self) -> String {
        let text = self.to_string();
        let start = text.len().saturating_sub(8);
        text[start..].to_string()
    }

    pub fn verify(
        &self,
        context: Context,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), crate::VerifyError> {
        sign::verify(&self.0, context, message, signature)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.to_peer_id_bytes()).into_string())
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.fmt_short())
    }
}

impl FromStr for DeviceId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = bs58::decode(s.trim())
            .into_vec()
            .map_err(|_| ParseIdError::NotDeviceId)?;
        DeviceId::from_peer_id_bytes(&bytes)
    }
}

serde_as_text!(DeviceId);

/// A device's secret key; also its libp2p identity.
#[derive(Clone, Debug)]
pub struct DeviceKey(Secret);

secret_key!(DeviceKey, DeviceId);
