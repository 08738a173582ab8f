//! Device certificates: the account key vouching for one device key.

use crate::{
    AccountId, AccountKey, DeviceId, KEY_LEN, VerifyError,
    sign::{Context, Payload, Signature},
};

/// Longest device name a certificate may carry, in bytes of UTF-8.
pub const MAX_DEVICE_NAME_LEN: usize = 64;

const SIGNATURE_LEN: usize = 64;

/// "Account `account` says device `device`, called `name`, is one of its
/// devices since `issued_at` (unix seconds)."
///
/// Byte form (also what travels on the wire and sits in `$KITH_HOME`):
/// `account (32) || device (32) || name_len (u32 BE) || name || issued_at (u64 BE) || signature (64)`;
/// the signature covers everything before it, in [`Context::DeviceCert`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCert {
    pub account: AccountId,
    pub device: DeviceId,
    pub name: String,
    pub issued_at: u64,
    pub signature: Signature,
}

impl DeviceCert {
    /// Sign a certificate for `device` with the account key.
    pub fn issue(
        account: &AccountKey,
        device: DeviceId,
        name: &str,
        issued_at: u64,
    ) -> Result<Self, VerifyError> {
        check_name(name)?;
        let message = payload(&account.id(), &device, name, issued_at);
        Ok(DeviceCert {
            account: account.id(),
            device,
            name: name.to_string(),
            issued_at,
            signature: account.sign(Context::DeviceCert, &message),
        })
    }

    /// Check the account's signature over the certificate.
    pub fn verify(&self) -> Result<(), VerifyError> {
        check_name(&self.name)?;
        let message = payload(&self.account, &self.device, &self.name, self.issued_at);
        self.account
            .verify(Context::DeviceCert, &message, &self.signature)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = payload(&self.account, &self.device, &self.name, self.issued_at);
        out.extend_from_slice(&self.signature.to_bytes());
        out
    }

    /// Parse the byte form. This checks structure only; call [`verify`](Self::verify).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::ParseIdError> {
        use crate::ParseIdError::Length;
        let mut r = Reader(bytes);
        let account = AccountId::from_bytes(r.array().ok_or(Length(bytes.len()))?)?;
        let device = DeviceId::from_bytes(r.array().ok_or(Length(bytes.len()))?)?;
        let name_len = u32::from_be_bytes(r.array().ok_or(Length(bytes.len()))?) as usize;
        if name_len > MAX_DEVICE_NAME_LEN {
            return Err(Length(name_len));
        }
        let name = r.take(name_len).ok_or(Length(bytes.len()))?;
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| crate::ParseIdError::Encoding("device name is not UTF-8".into()))?;
        let issued_at = u64::from_be_bytes(r.array().ok_or(Length(bytes.len()))?);
        let signature: [u8; SIGNATURE_LEN] = r.array().ok_or(Length(bytes.len()))?;
        if !r.0.is_empty() {
            return Err(Length(bytes.len()));
        }
        Ok(DeviceCert {
            account,
            device,
            name,
            issued_at,
            signature: Signature::from_bytes(&signature),
        })
    }
}

fn check_name(name: &str) -> Result<(), VerifyError> {
    if name.len() > MAX_DEVICE_NAME_LEN {
        return Err(VerifyError::NameTooLong(name.len()));
    }
    Ok(())
}

fn payload(account: &AccountId, device: &DeviceId, name: &str, issued_at: u64) -> Vec<u8> {
    Payload::new()
        .fixed(account.as_bytes())
        .fixed(device.as_bytes())
        .str(name)
        .u64(issued_at)
        .finish()
}

/// A cursor over untrusted bytes whose every read can fail, never panic.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

impl serde::Serialize for DeviceCert {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.to_bytes())
    }
}

impl<'de> serde::Deserialize<'de> for DeviceCert {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DeviceCert;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("device certificate bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<DeviceCert, E> {
                DeviceCert::from_bytes(v).map_err(E::custom)
            }
        }
        d.deserialize_bytes(Visitor)
    }
}

const _: () = assert!(KEY_LEN == 32);
