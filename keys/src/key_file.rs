//! The text format of secret-key files in `$KITH_HOME/keys/` (the node writes them 0600).
//!
//! ```text
//! # Kith account secret key. Anyone holding this file is you: keep it private.
//! kind = account
//! secret = <64 hex digits>
//! public = kith1…
//! ```
//!
//! `public` is redundant on purpose: reading checks it against the secret, so
//! a damaged file is reported as corrupt instead of silently becoming a
//! different identity.

use std::fmt;

use zeroize::Zeroizing;

use crate::{AccountKey, DeviceKey, KEY_LEN, KeyFileError};

/// Which key a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Account,
    Device,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Account => "account",
            KeyKind::Device => "device",
        })
    }
}

impl AccountKey {
    /// The key-file text. It holds the secret: write it with mode 0600.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        render(
            KeyKind::Account,
            &self.secret().seed(),
            &self.id().to_string(),
        )
    }

    pub fn from_file_text(text: &str) -> Result<Self, KeyFileError> {
        let seed = parse(KeyKind::Account, text)?;
        let key = AccountKey::from_seed(&seed.0);
        check_public(&seed.1, &key.id().to_string())?;
        Ok(key)
    }
}

impl DeviceKey {
    /// The key-file text. It holds the secret: write it with mode 0600.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        render(
            KeyKind::Device,
            &self.secret().seed(),
            &self.id().to_string(),
        )
    }

    pub fn from_file_text(text: &str) -> Result<Self, KeyFileError> {
        let seed = parse(KeyKind::Device, text)?;
        let key = DeviceKey::from_seed(&seed.0);
        check_public(&seed.1, &key.id().to_string())?;
        Ok(key)
    }
}

fn render(kind: KeyKind, seed: &[u8; KEY_LEN], public: &str) -> Zeroizing<String> {
    let mut hex = Zeroizing::new(String::with_capacity(2 * KEY_LEN));
    for b in seed {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    Zeroizing::new(format!(
        "# Kith {kind} secret key. Anyone holding this file is you: keep it private.\n\
         kind = {kind}\nsecret = {}\npublic = {public}\n",
        hex.as_str()
    ))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The seed and the `public` line of a key file.
struct Parsed(Zeroizing<[u8; KEY_LEN]>, String);

fn parse(expected: KeyKind, text: &str) -> Result<Parsed, KeyFileError> {
    let (mut kind, mut secret, mut public) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or(KeyFileError::Corrupt("a line is not `key = value`"))?;
        let slot = match key.trim() {
            "kind" => &mut kind,
            "secret" => &mut secret,
            "public" => &mut public,
            _ => return Err(KeyFileError::Corrupt("unknown entry")),
        };
        if slot.replace(value.trim()).is_some() {
            return Err(KeyFileError::Corrupt("an entry appears twice"));
        }
    }
    let found = match kind.ok_or(KeyFileError::Corrupt("no `kind` entry"))? {
        "account" => KeyKind::Account,
        "device" => KeyKind::Device,
        _ => return Err(KeyFileError::Corrupt("unknown key kind")),
    };
    if found != expected {
        return Err(KeyFileError::WrongKind { expected, found });
    }
    let secret = secret
        .ok_or(KeyFileError::Corrupt("no `secret` entry"))?
        .as_bytes();
    let public = public.ok_or(KeyFileError::Corrupt("no `public` entry"))?;
    if secret.len() != 2 * KEY_LEN {
        return Err(KeyFileError::Corrupt("secret is not 64 hex digits"));
    }
    let mut seed = Zeroizing::new([0u8; KEY_LEN]);
    for (i, pair) in secret.chunks_exact(2).enumerate() {
        let hi = hex_digit(pair[0]).ok_or(KeyFileError::Corrupt("secret is not hex"))?;
        let lo = hex_digit(pair[1]).ok_or(KeyFileError::Corrupt("secret is not hex"))?;
        seed[i] = hi << 4 | lo;
    }
    Ok(Parsed(seed, public.to_string()))
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn check_public(stored: &str, derived: &str) -> Result<(), KeyFileError> {
    if stored == derived {
        Ok(())
    } else {
        Err(KeyFileError::Mismatch)
    }
}
