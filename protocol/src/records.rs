//! Signed records a device publishes in Kademlia: where its account's devices
//! are, and which hashed identifiers (email, phone) its account may be found by.
//!
//! A record is stored under a key derived from its content, and a node
//! accepts (stores, serves, uses) it only if the key matches the content, the
//! certificate verifies and the certificate's device signed the body. So no
//! one can publish addresses for someone else's account.
//!
//! Under one key a node keeps a [`RecordSet`]: every valid record, one per
//! signing device (its newest), up to [`MAX_RECORDS_PER_KEY`]. So each of an
//! account's devices has its own address record, and anyone may *claim* an
//! identifier (a claim is not proof: suggestions say so) but no claim can
//! replace or hide another's.

use kith_keys::{AccountId, DeviceCert, DeviceId, Signature, sign::Context};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Largest record value, in bytes.
pub const MAX_RECORD_BYTES: usize = 4 * 1024;

/// Most records kept under one key (one per signing device). When full, a
/// new device's record waits until one expires: members that keep
/// refreshing keep their place, so a flood cannot push out a genuine claim
/// that was there first.
pub const MAX_RECORDS_PER_KEY: usize = 24;

/// Largest record set, in bytes.
pub const MAX_RECORD_SET_BYTES: usize = MAX_RECORDS_PER_KEY * 512;

/// Records older than this are ignored (publishers refresh them).
pub const RECORD_TTL_SECS: u64 = 24 * 60 * 60;

/// Most addresses in a device record.
pub const MAX_RECORD_ADDRS: usize = 8;

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Claim {
    /// "The certified device can be reached at these multiaddrs (binary)."
    Addresses { addrs: Vec<Vec<u8>> },
    /// "This account may be found by the identifier hashing to `id`."
    Discoverable { id: [u8; 32] },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub cert: DeviceCert,
    /// Unix seconds.
    pub at: u64,
    pub claim: Claim,
}

/// A record as stored in the DHT: CBOR body and the device's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    #[serde(with = "crate::friend::serde_bytes_vec")]
    pub body: Vec<u8>,
    #[serde(with = "kith_keys::sign::signature_bytes")]
    pub signature: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    #[error("record is too large")]
    TooLarge,
    #[error("record is malformed")]
    Malformed,
    #[error("record's certificate or signature does not verify")]
    BadSignature,
    #[error("record is stored under a key that does not match its content")]
    WrongKey,
    #[error("record is expired")]
    Expired,
}

/// The DHT key of an account's device records.
pub fn account_key(account: &AccountId) -> Vec<u8> {
    hashed(b"kith/account-devices/v1", account.as_bytes()).to_vec()
}

/// The hash that stands for a normalised identifier (`email:ann@example.org`,
/// `phone:+4915112345678`). See docs/privacy.md for what this does and does
/// not hide.
pub fn identifier_hash(kind: &str, normalised: &str) -> [u8; 32] {
    hashed(
        b"kith/identifier/v1",
        format!("{kind}:{normalised}").as_bytes(),
    )
}

/// The DHT key of a discoverable identifier's record.
pub fn identifier_key(id: &[u8; 32]) -> Vec<u8> {
    hashed(b"kith/discoverable/v1", id).to_vec()
}

fn hashed(domain: &[u8], data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain);
    h.update([0]);
    h.update(data);
    h.finalize().into()
}

impl SignedRecord {
    pub fn seal(body: &Body, sign: impl FnOnce(&[u8]) -> Signature) -> Self {
        let bytes = cbor4ii::serde::to_vec(Vec::new(), body).unwrap_or_default();
        let signature = sign(&bytes);
        SignedRecord {
            body: bytes,
            signature,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        cbor4ii::serde::to_vec(Vec::new(), self).unwrap_or_default()
    }

    /// The DHT key this record belongs under.
    pub fn key(body: &Body) -> Vec<u8> {
        match &body.claim {
            Claim::Addresses { .. } => account_key(&body.cert.account),
            Claim::Discoverable { id } => identifier_key(id),
        }
    }

    /// Parse and verify a record found under `key` at time `now`.
    pub fn open(key: &[u8], value: &[u8], now: u64) -> Result<Body, RecordError> {
        if value.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge);
        }
        let record: SignedRecord =
            cbor4ii::serde::from_slice(value).map_err(|_| RecordError::Malformed)?;
        let body: Body =
            cbor4ii::serde::from_slice(&record.body).map_err(|_| RecordError::Malformed)?;
        body.cert.verify().map_err(|_| RecordError::BadSignature)?;
        body.cert
            .device
            .verify(Context::DeviceRecord, &record.body, &record.signature)
            .map_err(|_| RecordError::BadSignature)?;
        if Self::key(&body) != key {
            return Err(RecordError::WrongKey);
        }
        if let Claim::Addresses { addrs } = &body.claim
            && addrs.len() > MAX_RECORD_ADDRS
        {
            return Err(RecordError::Malformed);
        }
        if now.saturating_sub(body.at) > RECORD_TTL_SECS {
            return Err(RecordError::Expired);
        }
        Ok(body)
    }
}

/// The records kept under one DHT key: each valid, at most one per signing
/// device, at most [`MAX_RECORDS_PER_KEY`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    pub records: Vec<SignedRecord>,
}

impl RecordSet {
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor4ii::serde::to_vec(Vec::new(), self).unwrap_or_default()
    }

    /// Every valid record found under `key` in `value` at `now`, with its
    /// body (a set, or a single record as older nodes stored it).
    pub fn open(
        key: &[u8],
        value: &[u8],
        now: u64,
    ) -> Result<Vec<(SignedRecord, Body)>, RecordError> {
        if value.len() > MAX_RECORD_SET_BYTES {
            return Err(RecordError::TooLarge);
        }
        let records = match cbor4ii::serde::from_slice::<RecordSet>(value) {
            Ok(set) if set.records.len() <= MAX_RECORDS_PER_KEY => set.records,
            Ok(_) => return Err(RecordError::TooLarge),
            Err(_) => vec![cbor4ii::serde::from_slice(value).map_err(|_| RecordError::Malformed)?],
        };
        Ok(records
            .into_iter()
            .filter_map(|r| {
                let body = SignedRecord::open(key, &r.to_bytes(), now).ok()?;
                Some((r, body))
            })
            .collect())
    }

    /// The `at` for `device`'s next record under `key`: `now`, or one past
    /// the record of that device already kept in `existing` when that one is
    /// not older. A set keeps a device's record only if it is strictly newer,
    /// so two publishes within one second (the first at start-up, the next
    /// when a relay reservation lands) must not tie, or the second one, the
    /// one with the relayed address, is dropped everywhere.
    pub fn next_at(key: &[u8], existing: Option<&[u8]>, device: &DeviceId, now: u64) -> u64 {
        existing
            .and_then(|v| Self::open(key, v, now).ok())
            .into_iter()
            .flatten()
            .filter(|(_, body)| body.cert.device == *device)
            .map(|(_, body)| body.at.saturating_add(1))
            .fold(now, u64::max)
    }

    /// What a node keeps under `key` after `incoming` arrives on top of
    /// `existing`: the newest valid record of each device, members already
    /// kept first. Refuses an incoming value with no valid record.
    pub fn merge(
        key: &[u8],
        existing: Option<&[u8]>,
        incoming: &[u8],
        now: u64,
    ) -> Result<RecordSet, RecordError> {
        let fresh = Self::open(key, incoming, now)?;
        if fresh.is_empty() {
            return Err(RecordError::BadSignature);
        }
        let mut kept: Vec<(SignedRecord, Body)> = existing
            .and_then(|v| Self::open(key, v, now).ok())
            .unwrap_or_default();
        for (record, body) in fresh {
            match kept
                .iter()
                .position(|(_, b)| b.cert.device == body.cert.device)
            {
                Some(i) if kept[i].1.at < body.at => kept[i] = (record, body),
                Some(_) => {}
                None if kept.len() < MAX_RECORDS_PER_KEY => kept.push((record, body)),
                None => {}
            }
        }
        Ok(RecordSet {
            records: kept.into_iter().map(|(r, _)| r).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::{AccountKey, DeviceKey};

    fn signed_by(seed: u8, claim: Claim, at: u64) -> (Vec<u8>, Vec<u8>) {
        let account = AccountKey::from_seed(&[seed; 32]);
        let device = DeviceKey::from_seed(&[seed.wrapping_add(100); 32]);
        let cert = DeviceCert::issue(&account, device.id(), "d", 1).unwrap();
        let body = Body { cert, at, claim };
        let record = SignedRecord::seal(&body, |b| device.sign(Context::DeviceRecord, b));
        (SignedRecord::key(&body), record.to_bytes())
    }

    /// The natlab's flake: a second publish in the same second tied with
    /// the first and was dropped, so the relayed address never went out.
    #[test]
    fn a_second_publish_within_one_second_replaces_the_first() {
        let account = AccountKey::from_seed(&[1; 32]);
        let device = DeviceKey::from_seed(&[101; 32]);
        let cert = DeviceCert::issue(&account, device.id(), "d", 1).unwrap();
        let seal = |addr: u8, at: u64| {
            let body = Body {
                cert: cert.clone(),
                at,
                claim: Claim::Addresses {
                    addrs: vec![vec![addr]],
                },
            };
            SignedRecord::seal(&body, |b| device.sign(Context::DeviceRecord, b)).to_bytes()
        };
        let key = account_key(&account.id());
        let now = 1_000;
        assert_eq!(RecordSet::next_at(&key, None, &device.id(), now), now);
        let first = RecordSet::merge(&key, None, &seal(1, now), now)
            .unwrap()
            .to_bytes();
        let at = RecordSet::next_at(&key, Some(&first), &device.id(), now);
        assert_eq!(at, now + 1);
        let second = RecordSet::merge(&key, Some(&first), &seal(2, at), now).unwrap();
        let kept = RecordSet::open(&key, &second.to_bytes(), now).unwrap();
        assert_eq!(kept.len(), 1);
        assert!(matches!(&kept[0].1.claim, Claim::Addresses { addrs } if addrs == &vec![vec![2]]));
        // Another device's record does not move this one's clock.
        let other = DeviceKey::from_seed(&[102; 32]);
        assert_eq!(
            RecordSet::next_at(&key, Some(&first), &other.id(), now),
            now
        );
    }

    /// Finding 8 of the privacy review: one record per key let an
    /// attacker's claim on an identifier replace the genuine one.
    #[test]
    fn claims_on_one_identifier_are_kept_side_by_side_and_a_flood_cannot_push_one_out() {
        let id = identifier_hash("email", "ann@example.org");
        let (key, genuine) = signed_by(1, Claim::Discoverable { id }, 100);
        let set = RecordSet::merge(&key, None, &genuine, 100).unwrap();
        let mut value = set.to_bytes();
        for seed in 2..(2 + MAX_RECORDS_PER_KEY as u8 + 5) {
            let (_, claim) = signed_by(seed, Claim::Discoverable { id }, 200);
            value = RecordSet::merge(&key, Some(&value), &claim, 200)
                .unwrap()
                .to_bytes();
        }
        let members = RecordSet::open(&key, &value, 200).unwrap();
        assert_eq!(members.len(), MAX_RECORDS_PER_KEY);
        let genuine_account = AccountKey::from_seed(&[1; 32]).id();
        assert!(
            members
                .iter()
                .any(|(_, b)| b.cert.account == genuine_account)
        );
        // A refresh replaces the device's own older record, nothing else.
        let (_, refreshed) = signed_by(1, Claim::Discoverable { id }, 300);
        let after = RecordSet::merge(&key, Some(&value), &refreshed, 300).unwrap();
        assert_eq!(after.records.len(), MAX_RECORDS_PER_KEY);
        let reopened = RecordSet::open(&key, &after.to_bytes(), 300).unwrap();
        let mine: Vec<_> = reopened
            .iter()
            .filter(|(_, b)| b.cert.account == genuine_account)
            .collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].1.at, 300);
        // Junk is refused, and a lone old-style record still reads.
        assert!(RecordSet::merge(&key, Some(&value), b"junk", 300).is_err());
        assert_eq!(RecordSet::open(&key, &genuine, 100).unwrap().len(), 1);
    }

    /// Each device of an account keeps its own address record under the
    /// account's key (they used to overwrite each other).
    #[test]
    fn each_device_of_an_account_has_its_own_address_record() {
        let account = AccountKey::from_seed(&[1; 32]);
        let mut value: Option<Vec<u8>> = None;
        let mut key = Vec::new();
        for seed in [2u8, 3] {
            let device = DeviceKey::from_seed(&[seed; 32]);
            let cert = DeviceCert::issue(&account, device.id(), "d", 1).unwrap();
            let body = Body {
                cert,
                at: 100,
                claim: Claim::Addresses {
                    addrs: vec![vec![seed]],
                },
            };
            let record = SignedRecord::seal(&body, |b| device.sign(Context::DeviceRecord, b));
            key = SignedRecord::key(&body);
            value = Some(
                RecordSet::merge(&key, value.as_deref(), &record.to_bytes(), 100)
                    .unwrap()
                    .to_bytes(),
            );
        }
        let members = RecordSet::open(&key, &value.unwrap(), 100).unwrap();
        assert_eq!(members.len(), 2);
    }

    fn signed(claim: Claim, at: u64) -> (Vec<u8>, Vec<u8>) {
        let account = AccountKey::from_seed(&[1; 32]);
        let device = DeviceKey::from_seed(&[2; 32]);
        let cert = DeviceCert::issue(&account, device.id(), "d", 1).unwrap();
        let body = Body { cert, at, claim };
        let record = SignedRecord::seal(&body, |b| device.sign(Context::DeviceRecord, b));
        (SignedRecord::key(&body), record.to_bytes())
    }

    #[test]
    fn a_valid_record_opens_under_its_own_key_only() {
        let (key, value) = signed(
            Claim::Addresses {
                addrs: vec![vec![1, 2, 3]],
            },
            100,
        );
        assert!(SignedRecord::open(&key, &value, 100).is_ok());
        let other = account_key(&AccountKey::from_seed(&[5; 32]).id());
        assert_eq!(
            SignedRecord::open(&other, &value, 100),
            Err(RecordError::WrongKey)
        );
    }

    #[test]
    fn discoverable_records_are_keyed_by_identifier() {
        let id = identifier_hash("email", "b@example.org");
        let (key, value) = signed(Claim::Discoverable { id }, 100);
        assert_eq!(key, identifier_key(&id));
        assert!(SignedRecord::open(&key, &value, 100).is_ok());
    }

    #[test]
    fn tampering_and_age_are_detected() {
        let (key, mut value) = signed(Claim::Addresses { addrs: vec![] }, 100);
        assert_eq!(
            SignedRecord::open(&key, &value, 100 + RECORD_TTL_SECS + 1),
            Err(RecordError::Expired)
        );
        let n = value.len();
        value[n - 1] ^= 1;
        assert!(SignedRecord::open(&key, &value, 100).is_err());
        assert_eq!(
            SignedRecord::open(&key, b"junk", 100),
            Err(RecordError::Malformed)
        );
    }
}

/// Identifier kinds an account may be discoverable by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    Email,
    Phone,
}

impl IdentifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::Email => "email",
            IdentifierKind::Phone => "phone",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "email" => Some(IdentifierKind::Email),
            "phone" => Some(IdentifierKind::Phone),
            _ => None,
        }
    }

    /// The canonical form both the publisher and the searcher hash: emails
    /// trimmed and lower-cased; phone numbers as `+` and digits only (a
    /// number without a country code stays as its digits). `None` if the
    /// value cannot be such an identifier.
    pub fn normalise(self, value: &str) -> Option<String> {
        let value = value.trim();
        match self {
            IdentifierKind::Email => {
                let lower = value.to_lowercase();
                let (local, domain) = lower.split_once('@')?;
                let valid = !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !lower.contains(char::is_whitespace)
                    && lower.len() <= 254;
                valid.then_some(lower)
            }
            IdentifierKind::Phone => {
                let allowed = value
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c));
                // Punctuation first, then the international prefix, so
                // `(0049) 151…`, `0049151…` and `+49 151…` are one number
                // and normalising a normalised number changes nothing.
                let compact: String = value.chars().filter(|c| !" -().".contains(*c)).collect();
                let (plus, digits) = match compact.strip_prefix('+') {
                    Some(rest) => (true, rest),
                    None => match compact.strip_prefix("00") {
                        Some(rest) => (true, rest),
                        None => (false, compact.as_str()),
                    },
                };
                let digits_only = digits.chars().all(|c| c.is_ascii_digit());
                (allowed && digits_only && (6..=15).contains(&digits.len())).then(|| {
                    if plus {
                        format!("+{digits}")
                    } else {
                        digits.to_string()
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod identifier_tests {
    use super::IdentifierKind::{Email, Phone};

    #[test]
    fn emails_normalise_case_and_space() {
        assert_eq!(
            Email.normalise("  B@Example.org "),
            Some("b@example.org".into())
        );
        assert_eq!(Email.normalise("no-at-sign"), None);
        assert_eq!(Email.normalise("a@b"), None);
    }

    #[test]
    fn phones_normalise_to_plus_and_digits() {
        assert_eq!(
            Phone.normalise("+49 (151) 123-45678"),
            Some("+4915112345678".into())
        );
        assert_eq!(
            Phone.normalise("0049 151 12345678"),
            Some("+4915112345678".into())
        );
        assert_eq!(
            Phone.normalise("0151 12345678"),
            Some("015112345678".into())
        );
        assert_eq!(Phone.normalise("call me"), None);
        assert_eq!(Phone.normalise("12"), None);
        assert_eq!(
            Phone.normalise("+49 +151 1234"),
            None,
            "a plus in the middle"
        );
    }

    /// Fuzz crashers (`fuzz/crashers/records/`): the `00` prefix after
    /// punctuation made normalising twice give another number.
    #[test]
    fn normalising_twice_changes_nothing() {
        for input in [
            "0 07123",
            "(0049) 151 12345678",
            "0049 151 12345678",
            "+49 151 12345678",
            "0151 12345678",
            "00 00 123 4567",
        ] {
            if let Some(once) = Phone.normalise(input) {
                assert_eq!(Phone.normalise(&once), Some(once.clone()), "{input}");
            }
        }
        assert_eq!(
            Phone.normalise("(0049) 151 12345678"),
            Some("+4915112345678".into())
        );
        for crasher in [
            &include_bytes!("../../fuzz/crashers/records/phone-normalise-not-idempotent")[..],
            &include_bytes!("../../fuzz/crashers/records/phone-normalise-not-idempotent-realistic")
                [..],
        ] {
            let text = String::from_utf8_lossy(crasher);
            if let Some(once) = Phone.normalise(&text) {
                assert_eq!(Phone.normalise(&once), Some(once.clone()), "{text}");
            }
        }
    }
}
