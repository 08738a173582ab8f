//! The account: an ed25519 key whose public half, as `kith1…` text, is the person's id.

use std::{fmt, str::FromStr};

use bech32::{Bech32m, Hrp};

use crate::{
    KEY_LEN, ParseIdError,
    secret::Secret,
    sign::{self, Context, Signature},
};

const HRP: Hrp = Hrp::parse_unchecked("kith");

/// The public id of an account: an ed25519 public key.
///
/// Text form: bech32m with prefix `kith` (`kith1` + 58 characters). The
/// checksum catches any single typo and most others, so a mistyped id is
/// rejected instead of silently naming nobody.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId([u8; KEY_LEN]);

impl AccountId {
    /// Wrap raw public-key bytes, checking that they are a valid ed25519 point.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, ParseIdError> {
        crate::memo::verifying_key(&bytes).ok_or(ParseIdError::InvalidKey)?;
        Ok(AccountId(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A short form for logs and tables: the first characters after `kith1`.
    pub fn fmt_short(&self) -> String {
        let text = self.to_string();
        text.get(5..13).unwrap_or(&text).to_string()
    }

    /// Verify a signature this account made in `context`.
    pub fn verify(
        &self,
        context: Context,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), crate::VerifyError> {
        sign::verify(&self.0, context, message, signature)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        bech32::encode_lower_to_fmt::<Bech32m, _>(f, HRP, &self.0).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.fmt_short())
    }
}

impl FromStr for AccountId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (hrp, data) =
            bech32::decode(s.trim()).map_err(|e| ParseIdError::Encoding(e.to_string()))?;
        if hrp != HRP {
            return Err(ParseIdError::WrongPrefix(hrp.to_string()));
        }
        let bytes: [u8; KEY_LEN] = data
            .as_slice()
            .try_into()
            .map_err(|_| ParseIdError::Length(data.len()))?;
        AccountId::from_bytes(bytes)
    }
}

serde_as_text!(AccountId);

/// The account's secret key. It signs device certificates, revocations and
/// link proofs; it lives on the first device and is copied only on request.
#[derive(Clone, Debug)]
pub struct AccountKey(Secret);

secret_key!(AccountKey, AccountId);
