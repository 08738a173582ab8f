//! Error types of the keys crate, one per failing operation.

/// A text id (account or device) could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseIdError {
    #[error("not a Kith account id: {0}")]
    Encoding(String),
    #[error("account ids start with `kith1`, this one has prefix `{0}`")]
    WrongPrefix(String),
    #[error("not a device id (expected a base58 libp2p peer id of an ed25519 key)")]
    NotDeviceId,
    #[error("id has the wrong length: {0} bytes")]
    Length(usize),
    #[error("not a valid ed25519 public key")]
    InvalidKey,
}

/// A signature or certificate did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("device name is {0} bytes, the limit is {max}", max = crate::MAX_DEVICE_NAME_LEN)]
    NameTooLong(usize),
}

/// A key file's text could not be read back into a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    #[error("key file is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("key file holds a {found} key, expected a {expected} key")]
    WrongKind {
        expected: crate::KeyKind,
        found: crate::KeyKind,
    },
    #[error("key file's public key does not match its secret key")]
    Mismatch,
}
