//! `/kith/friend/1`: the signed two-party friend handshake.
//!
//! Every message is a [`Signed`] envelope: CBOR bytes of a [`Body`], the
//! sender device's certificate, and the device's signature over the bytes in
//! context `kith/friend-handshake/v1`. The receiver verifies before it reads
//! anything ([`Signed::open`]): certificate, signature, addressee, time window
//! and a replay cache of nonces. Accept and decline bind the request by its
//! hash, so a friendship is proven by the pair (request, accept), each signed
//! by one side.

use kith_keys::{AccountId, DeviceCert, DeviceId, Signature, VerifyError, sign::Context};
use serde::{Deserialize, Serialize};

use crate::refusal::WireRefusal;
use sha2::{Digest as _, Sha256};

use crate::{
    limits::{HANDSHAKE_WINDOW_SECS, MAX_FRIEND_MESSAGE_LEN, MAX_HANDSHAKE_BYTES, MAX_NAME_LEN},
    rate::ReplayCache,
};

/// The libp2p protocol name.
pub const PROTOCOL: &str = "/kith/friend/1";

/// A 32-byte hash naming a signed message (the request an accept answers).
pub type MessageHash = [u8; 32];

/// What a handshake message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// "Please be my friend." `invite` is the secret of a ticket the
    /// recipient issued, if the sender was handed one.
    Request {
        name: String,
        message: String,
        invite: Option<[u8; 32]>,
    },
    /// "Yes" to the request with this hash.
    Accept { request: MessageHash, name: String },
    /// "No" to the request with this hash.
    Decline { request: MessageHash },
    /// "We are no longer friends."
    Remove,
}

/// The signed content of a handshake message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub from: AccountId,
    pub to: AccountId,
    /// Unix seconds; must be within [`HANDSHAKE_WINDOW_SECS`] of the receiver's clock.
    pub at: u64,
    pub nonce: [u8; 16],
    pub action: Action,
}

/// A handshake message as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    #[serde(with = "serde_bytes_vec")]
    pub body: Vec<u8>,
    pub cert: DeviceCert,
    #[serde(with = "kith_keys::sign::signature_bytes")]
    pub signature: Signature,
}

/// The answer to every handshake message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// Taken (a request now waits for the person's decision; a notice was applied).
    Received,
    /// The request carried a valid invite and is accepted at once.
    Accepted { accept: Box<Signed> },
    /// Refused; `code` is a [`WireRefusal`]'s stable snake_case code.
    Refused { code: String },
}

impl Reply {
    pub fn refused(refusal: &WireRefusal) -> Self {
        Reply::Refused {
            code: refusal.code().to_string(),
        }
    }
}

/// A message that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub body: Body,
    pub device: DeviceId,
    pub hash: MessageHash,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    #[error("message is {0} bytes, the limit is {MAX_HANDSHAKE_BYTES}")]
    TooLarge(usize),
    #[error("sender's device certificate does not verify")]
    BadCertificate(#[source] VerifyError),
    #[error("signature does not verify")]
    BadSignature,
    #[error("message body is malformed")]
    Malformed,
    #[error("message is from {from} but signed by a device of {signer}")]
    WrongSender { from: AccountId, signer: AccountId },
    #[error("message is addressed to {0}, not to this account")]
    WrongAddressee(AccountId),
    #[error("message is from this account itself")]
    FromSelf,
    #[error("message time {at} is outside the accepted window around {now}")]
    Stale { at: u64, now: u64 },
    #[error("message was already received (replay)")]
    Replay,
    #[error("a field is over its limit")]
    FieldTooLong,
}

impl HandshakeError {
    /// What the receiver answers.
    pub fn refusal(&self) -> WireRefusal {
        match self {
            HandshakeError::TooLarge(_) => WireRefusal::TooLarge,
            HandshakeError::BadCertificate(_) => WireRefusal::BadCertificate,
            HandshakeError::BadSignature => WireRefusal::BadSignature,
            HandshakeError::Malformed => WireRefusal::Malformed,
            HandshakeError::WrongSender { .. } => WireRefusal::WrongSender,
            HandshakeError::WrongAddressee(_) => WireRefusal::WrongAddressee,
            HandshakeError::FromSelf => WireRefusal::FromSelf,
            HandshakeError::Stale { .. } => WireRefusal::Stale,
            HandshakeError::Replay => WireRefusal::Replay,
            HandshakeError::FieldTooLong => WireRefusal::FieldTooLong,
        }
    }
}

impl Signed {
    /// Sign `body` with `sign` (the device key's signing function in
    /// [`Context::FriendHandshake`]) and attach the device certificate.
    pub fn seal(body: &Body, cert: DeviceCert, sign: impl FnOnce(&[u8]) -> Signature) -> Self {
        let bytes = encode(body);
        let signature = sign(&bytes);
        Signed {
            body: bytes,
            cert,
            signature,
        }
    }

    /// The message's own bytes (CBOR), as kept for proofs.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor4ii::serde::to_vec(Vec::new(), self).unwrap_or_default()
    }

    /// Read bytes written by [`to_bytes`](Self::to_bytes); checks structure only.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HandshakeError> {
        if bytes.len() > MAX_HANDSHAKE_BYTES * 2 {
            return Err(HandshakeError::TooLarge(bytes.len()));
        }
        cbor4ii::serde::from_slice(bytes).map_err(|_| HandshakeError::Malformed)
    }

    /// The hash that names this message: sha256 of body and signature.
    pub fn hash(&self) -> MessageHash {
        let mut h = Sha256::new();
        h.update(&self.body);
        h.update(self.signature.to_bytes());
        h.finalize().into()
    }

    /// Verify everything and return the body, for a receiver that is `me` at
    /// unix time `now`. Nonces are recorded in `replay` only on success.
    pub fn open(
        &self,
        me: &AccountId,
        now: u64,
        replay: &mut ReplayCache,
    ) -> Result<Opened, HandshakeError> {
        let opened = self.verify()?;
        let body = &opened.body;
        if body.from == *me {
            return Err(HandshakeError::FromSelf);
        }
        if body.to != *me {
            return Err(HandshakeError::WrongAddressee(body.to));
        }
        if body.at.abs_diff(now) > HANDSHAKE_WINDOW_SECS {
            return Err(HandshakeError::Stale { at: body.at, now });
        }
        if !replay.insert(body.nonce, body.at, now) {
            return Err(HandshakeError::Replay);
        }
        Ok(opened)
    }

    /// Check the certificate, signature, sender and limits, without the
    /// receiver-specific checks: for proofs kept on disk (friendships).
    pub fn verify(&self) -> Result<Opened, HandshakeError> {
        if self.body.len() > MAX_HANDSHAKE_BYTES {
            return Err(HandshakeError::TooLarge(self.body.len()));
        }
        self.cert.verify().map_err(HandshakeError::BadCertificate)?;
        self.cert
            .device
            .verify(Context::FriendHandshake, &self.body, &self.signature)
            .map_err(|_| HandshakeError::BadSignature)?;
        let body: Body =
            cbor4ii::serde::from_slice(&self.body).map_err(|_| HandshakeError::Malformed)?;
        if body.from != self.cert.account {
            return Err(HandshakeError::WrongSender {
                from: body.from,
                signer: self.cert.account,
            });
        }
        check_limits(&body.action)?;
        Ok(Opened {
            body,
            device: self.cert.device,
            hash: self.hash(),
        })
    }
}

fn check_limits(action: &Action) -> Result<(), HandshakeError> {
    let too_long = match action {
        Action::Request { name, message, .. } => {
            name.len() > MAX_NAME_LEN || message.len() > MAX_FRIEND_MESSAGE_LEN
        }
        Action::Accept { name, .. } => name.len() > MAX_NAME_LEN,
        Action::Decline { .. } | Action::Remove => false,
    };
    if too_long {
        Err(HandshakeError::FieldTooLong)
    } else {
        Ok(())
    }
}

/// CBOR bytes of a body. Encoding plain data into a `Vec` cannot fail.
pub fn encode(body: &Body) -> Vec<u8> {
    cbor4ii::serde::to_vec(Vec::new(), body).unwrap_or_default()
}

/// Serde for `Vec<u8>` as a CBOR byte string rather than an array of numbers.
pub mod serde_bytes_vec {
    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        d.deserialize_bytes(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::{AccountKey, DeviceKey};

    struct Side {
        account: AccountKey,
        device: DeviceKey,
        cert: DeviceCert,
    }

    fn side(seed: u8) -> Side {
        let account = AccountKey::from_seed(&[seed; 32]);
        let device = DeviceKey::from_seed(&[seed + 100; 32]);
        let cert = DeviceCert::issue(&account, device.id(), "d", 1).unwrap();
        Side {
            account,
            device,
            cert,
        }
    }

    const NOW: u64 = 1_800_000_000;

    fn seal(from: &Side, to: &Side, at: u64, nonce: u8, action: Action) -> Signed {
        let body = Body {
            from: from.account.id(),
            to: to.account.id(),
            at,
            nonce: [nonce; 16],
            action,
        };
        Signed::seal(&body, from.cert.clone(), |b| {
            from.device.sign(Context::FriendHandshake, b)
        })
    }

    fn request() -> Action {
        Action::Request {
            name: "Ann".into(),
            message: "hi".into(),
            invite: None,
        }
    }

    #[test]
    fn a_valid_request_opens() {
        let (a, b) = (side(1), side(2));
        let msg = seal(&a, &b, NOW, 1, request());
        let opened = msg
            .open(&b.account.id(), NOW, &mut ReplayCache::default())
            .unwrap();
        assert_eq!(opened.body.from, a.account.id());
        assert_eq!(opened.device, a.device.id());
        assert_eq!(opened.hash, msg.hash());
    }

    #[test]
    fn a_replayed_message_is_refused() {
        let (a, b) = (side(1), side(2));
        let msg = seal(&a, &b, NOW, 1, request());
        let mut cache = ReplayCache::default();
        msg.open(&b.account.id(), NOW, &mut cache).unwrap();
        assert_eq!(
            msg.open(&b.account.id(), NOW + 1, &mut cache),
            Err(HandshakeError::Replay)
        );
    }

    #[test]
    fn a_message_for_another_account_is_refused() {
        let (a, b, c) = (side(1), side(2), side(3));
        let msg = seal(&a, &b, NOW, 1, request());
        assert_eq!(
            msg.open(&c.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::WrongAddressee(b.account.id()))
        );
        // An accept meant for someone else, too.
        let accept = seal(
            &b,
            &c,
            NOW,
            2,
            Action::Accept {
                request: msg.hash(),
                name: "B".into(),
            },
        );
        assert!(matches!(
            accept.open(&a.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::WrongAddressee(_))
        ));
    }

    #[test]
    fn stale_and_future_messages_are_refused() {
        let (a, b) = (side(1), side(2));
        for at in [
            NOW - HANDSHAKE_WINDOW_SECS - 1,
            NOW + HANDSHAKE_WINDOW_SECS + 1,
        ] {
            let msg = seal(&a, &b, at, 1, request());
            assert!(matches!(
                msg.open(&b.account.id(), NOW, &mut ReplayCache::default()),
                Err(HandshakeError::Stale { .. })
            ));
        }
    }

    #[test]
    fn a_tampered_body_or_signature_is_refused() {
        let (a, b) = (side(1), side(2));
        let msg = seal(&a, &b, NOW, 1, request());
        let mut tampered = msg.clone();
        let last = tampered.body.len() - 1;
        tampered.body[last] ^= 1;
        assert_eq!(
            tampered.open(&b.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::BadSignature)
        );
        let mut resigned = msg.clone();
        resigned.signature = side(9).device.sign(Context::FriendHandshake, &msg.body);
        assert_eq!(
            resigned.open(&b.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::BadSignature)
        );
    }

    #[test]
    fn a_signature_made_for_another_message_type_is_refused() {
        let (a, b) = (side(1), side(2));
        let body = Body {
            from: a.account.id(),
            to: b.account.id(),
            at: NOW,
            nonce: [1; 16],
            action: request(),
        };
        // The same bytes, signed as if they were a document change.
        let cross = Signed::seal(&body, a.cert.clone(), |bytes| {
            a.device.sign(Context::DocumentChange, bytes)
        });
        assert_eq!(
            cross.open(&b.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::BadSignature)
        );
    }

    #[test]
    fn a_forged_sender_is_refused() {
        let (a, b, mallory) = (side(1), side(2), side(3));
        // Mallory signs with her own certified device but claims to be A.
        let body = Body {
            from: a.account.id(),
            to: b.account.id(),
            at: NOW,
            nonce: [1; 16],
            action: request(),
        };
        let forged = Signed::seal(&body, mallory.cert.clone(), |bytes| {
            mallory.device.sign(Context::FriendHandshake, bytes)
        });
        assert!(matches!(
            forged.open(&b.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::WrongSender { .. })
        ));
        // Or borrows A's certificate: the signature is not by A's device.
        let borrowed = Signed::seal(&body, a.cert.clone(), |bytes| {
            mallory.device.sign(Context::FriendHandshake, bytes)
        });
        assert_eq!(
            borrowed.open(&b.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::BadSignature)
        );
        // Or a certificate that does not verify.
        let mut bad_cert = a.cert.clone();
        bad_cert.name = "changed".into();
        let broken = Signed::seal(&body, bad_cert, |bytes| {
            a.device.sign(Context::FriendHandshake, bytes)
        });
        assert!(matches!(
            broken.open(&b.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::BadCertificate(_))
        ));
    }

    #[test]
    fn messages_from_oneself_and_oversized_fields_are_refused() {
        let (a, b) = (side(1), side(2));
        let own = seal(&a, &a, NOW, 1, request());
        assert_eq!(
            own.open(&a.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::FromSelf)
        );
        let long = Action::Request {
            name: "x".repeat(MAX_NAME_LEN + 1),
            message: String::new(),
            invite: None,
        };
        let msg = seal(&a, &b, NOW, 2, long);
        assert_eq!(
            msg.open(&b.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::FieldTooLong)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let (a, b) = (side(1), side(2));
        let msg = seal(&a, &b, NOW, 1, request());
        for len in 0..msg.body.len() {
            let mut cut = msg.clone();
            cut.body.truncate(len);
            assert!(
                cut.open(&b.account.id(), NOW, &mut ReplayCache::default())
                    .is_err()
            );
        }
        // Validly signed garbage: the signature holds, the body does not parse.
        let garbage = vec![0xff; 64];
        let signed = Signed {
            body: garbage.clone(),
            cert: a.cert.clone(),
            signature: a.device.sign(Context::FriendHandshake, &garbage),
        };
        assert_eq!(
            signed.open(&b.account.id(), NOW, &mut ReplayCache::default()),
            Err(HandshakeError::Malformed)
        );
    }
}
