//! Domain-separated signing: every signed message names what it is.
//!
//! The bytes signed are `b"kith-sig-v1\0" || len(context) || context || message`,
//! with `len` a single byte. A signature over a device certificate can
//! therefore never be replayed as, say, a friend request, even if the two
//! messages happened to share their bytes.

use crate::{KEY_LEN, VerifyError, secret::Secret};

pub use ed25519_dalek::Signature;

const PREFIX: &[u8] = b"kith-sig-v1\0";

/// What a signature is for. New message types add a variant; the strings are
/// part of the wire format and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Context {
    /// An account key certifies a device key.
    DeviceCert,
    /// An account key revokes a device.
    DeviceRevocation,
    /// A device signs a friend-handshake message.
    FriendHandshake,
    /// A device signs a document change.
    DocumentChange,
    /// A device signs a gossip announcement.
    Announcement,
    /// An account key signs a statement that it owns a platform account.
    LinkProof,
    /// A device signs a record it publishes in the DHT (its addresses, or
    /// an identifier its account may be found by).
    DeviceRecord,
    /// An account key hands a friend a recovery share of itself, or takes
    /// it back.
    RecoveryShare,
}

impl Context {
    /// The context's stable name, as mixed into the signed bytes.
    pub fn as_str(self) -> &'static str {
        match self {
            Context::DeviceCert => "kith/device-cert/v1",
            Context::DeviceRevocation => "kith/device-revocation/v1",
            Context::FriendHandshake => "kith/friend-handshake/v1",
            Context::DocumentChange => "kith/document-change/v1",
            Context::Announcement => "kith/announcement/v1",
            Context::LinkProof => "kith/link-proof/v1",
            Context::DeviceRecord => "kith/device-record/v1",
            Context::RecoveryShare => "kith/recovery-share/v1",
        }
    }
}

/// The exact bytes that are signed for `message` in `context`.
pub fn signed_bytes(context: Context, message: &[u8]) -> Vec<u8> {
    let name = context.as_str().as_bytes();
    let mut out = Vec::with_capacity(PREFIX.len() + 1 + name.len() + message.len());
    out.extend_from_slice(PREFIX);
    // Context names are short constants; a byte is enough and keeps it exact.
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(message);
    out
}

pub(crate) fn sign(secret: &Secret, context: Context, message: &[u8]) -> Signature {
    use ed25519_dalek::Signer as _;
    secret.signing_key().sign(&signed_bytes(context, message))
}

/// Verify `signature` by the ed25519 key `public` over `message` in `context`.
///
/// Uses dalek's strict verification (rejects small-order keys and
/// non-canonical signatures), so one message has one valid signature shape.
pub fn verify(
    public: &[u8; KEY_LEN],
    context: Context,
    message: &[u8],
    signature: &Signature,
) -> Result<(), VerifyError> {
    let signed = signed_bytes(context, message);
    let digest = crate::memo::digest(public, &signature.to_bytes(), &signed);
    if crate::memo::was_verified(&digest) {
        return Ok(());
    }
    let key = crate::memo::verifying_key(public).ok_or(VerifyError::BadSignature)?;
    if key.is_weak() {
        return Err(VerifyError::BadSignature);
    }
    key.verify_strict(&signed, signature)
        .map_err(|_| VerifyError::BadSignature)?;
    crate::memo::remember_verified(digest);
    Ok(())
}

/// A canonical byte writer for signed payloads: fixed-size fields raw,
/// variable-size fields prefixed with their length as u32 big-endian.
#[derive(Debug, Default)]
pub struct Payload(Vec<u8>);

impl Payload {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn fixed(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    pub fn u64(self, value: u64) -> Self {
        self.fixed(&value.to_be_bytes())
    }
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }
    pub fn str(self, s: &str) -> Self {
        self.bytes(s.as_bytes())
    }
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Serde for a [`Signature`] as 64 raw bytes in every format, so binary
/// encodings never disagree about "human-readable" hex.
pub mod signature_bytes {
    use serde::{Deserializer, Serializer, de};

    use super::Signature;

    pub fn serialize<S: Serializer>(signature: &Signature, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&signature.to_bytes())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Signature;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Signature, E> {
                let bytes: [u8; 64] = v
                    .try_into()
                    .map_err(|_| E::invalid_length(v.len(), &self))?;
                Ok(Signature::from_bytes(&bytes))
            }
        }
        d.deserialize_bytes(Visitor)
    }
}
