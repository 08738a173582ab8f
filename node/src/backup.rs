//! The encrypted export (`kith export`, `kith import`): the account key
//! and the account's own documents, with every change's signature and
//! author certificate (the store serves them on to peers), sealed under a
//! passphrase.
//!
//! Format (all integers big-endian), documented in `docs/recovery.md`:
//! `KITHEXPORT1\n`, scrypt `log_n` (u8), `r` (u32), `p` (u32), salt (16),
//! XChaCha20-Poly1305 nonce (24), then the ciphertext of the payload with
//! everything before it as associated data. The payload: the account
//! key's seed (32), a document count (u8), and per document its kind
//! code (u8), snapshot (u32 length, bytes), signatures (u32 count; each a
//! change hash (32), certificate (u16 length, bytes), signature (64)).
//! A bundle is a file a person may have been handed: it is parsed as
//! hostile input, within the limits below, before anything is written.

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use kith_crdt::{DocKind, Hash};
use kith_keys::{AccountKey, DeviceCert, KEY_LEN, Signature};
use zeroize::Zeroizing;

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 12] = b"KITHEXPORT1\n";
/// Largest bundle read, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 256 * 1024 * 1024;
/// scrypt cost written: 2^17 × 8 × 128 bytes = 128 MiB of memory, about
/// half a second on a laptop (RFC 7914's interactive-use figure is 2^14;
/// an export is made rarely and guarded for years, so it pays more).
pub const SCRYPT_LOG_N: u8 = 17;
/// Highest scrypt cost a bundle may ask for (512 MiB): a planted bundle
/// must not make `kith import` take all memory.
pub const MAX_SCRYPT_LOG_N: u8 = 19;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = MAGIC.len() + 1 + 4 + 4 + SALT_LEN + NONCE_LEN;

/// One of the account's documents as exported.
#[derive(Debug, Clone)]
pub struct ExportedDoc {
    pub kind: DocKind,
    pub snapshot: Vec<u8>,
    pub signatures: Vec<(Hash, DeviceCert, Signature)>,
}

/// What a bundle holds.
#[derive(Debug)]
pub struct Bundle {
    pub account_key: AccountKey,
    pub docs: Vec<ExportedDoc>,
}

/// Why a bundle could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error("not a Kith export (it does not start with the export header)")]
    NotABundle,
    #[error("the export is larger than {MAX_BUNDLE_BYTES} bytes")]
    TooLarge,
    #[error("wrong passphrase, or the export was changed")]
    WrongPassphrase,
    #[error("the export asks for key-stretching parameters Kith does not use")]
    BadParameters,
    #[error("the export is damaged: {0}")]
    Damaged(&'static str),
    #[error("no randomness for the export: {0}")]
    Randomness(String),
    #[error("the passphrase is empty")]
    EmptyPassphrase,
}

fn key_from(passphrase: &[u8], salt: &[u8], log_n: u8) -> Result<Zeroizing<[u8; 32]>, BackupError> {
    let params = scrypt::Params::new(log_n, SCRYPT_R, SCRYPT_P, 32)
        .map_err(|_| BackupError::BadParameters)?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase, salt, &params, key.as_mut())
        .map_err(|_| BackupError::BadParameters)?;
    Ok(key)
}

/// Seal `bundle` under `passphrase`.
pub fn seal(bundle: &Bundle, passphrase: &[u8]) -> Result<Vec<u8>, BackupError> {
    seal_with(bundle, passphrase, SCRYPT_LOG_N)
}

fn seal_with(bundle: &Bundle, passphrase: &[u8], log_n: u8) -> Result<Vec<u8>, BackupError> {
    if passphrase.is_empty() {
        return Err(BackupError::EmptyPassphrase);
    }
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut salt).map_err(|e| BackupError::Randomness(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| BackupError::Randomness(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(MAGIC);
    out.push(log_n);
    out.extend_from_slice(&SCRYPT_R.to_be_bytes());
    out.extend_from_slice(&SCRYPT_P.to_be_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    let key = key_from(passphrase, &salt, log_n)?;
    let payload = Zeroizing::new(encode(bundle)?);
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &payload,
                aad: &out,
            },
        )
        .map_err(|_| BackupError::Damaged("cannot encrypt"))?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Open a bundle with `passphrase`.
pub fn open(bytes: &[u8], passphrase: &[u8]) -> Result<Bundle, BackupError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BackupError::TooLarge);
    }
    if bytes.len() < HEADER_LEN || !bytes.starts_with(MAGIC) {
        return Err(BackupError::NotABundle);
    }
    let (header, sealed) = bytes.split_at(HEADER_LEN);
    let mut r = Reader(&header[MAGIC.len()..]);
    let log_n = r.u8()?;
    let (scrypt_r, scrypt_p) = (r.u32()?, r.u32()?);
    if !(10..=MAX_SCRYPT_LOG_N).contains(&log_n) || scrypt_r != SCRYPT_R || scrypt_p != SCRYPT_P {
        return Err(BackupError::BadParameters);
    }
    let salt = r.take(SALT_LEN)?;
    let nonce = r.take(NONCE_LEN)?;
    let key = key_from(passphrase, salt, log_n)?;
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let payload = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: header,
                },
            )
            .map_err(|_| BackupError::WrongPassphrase)?,
    );
    decode(&payload)
}

fn encode(bundle: &Bundle) -> Result<Vec<u8>, BackupError> {
    let too_big = || BackupError::Damaged("a document too large to export");
    let mut out = Vec::new();
    out.extend_from_slice(bundle.account_key.seed().as_ref());
    out.push(u8::try_from(bundle.docs.len()).map_err(|_| too_big())?);
    for doc in &bundle.docs {
        out.push(doc.kind.code());
        out.extend_from_slice(
            &u32::try_from(doc.snapshot.len())
                .map_err(|_| too_big())?
                .to_be_bytes(),
        );
        out.extend_from_slice(&doc.snapshot);
        out.extend_from_slice(
            &u32::try_from(doc.signatures.len())
                .map_err(|_| too_big())?
                .to_be_bytes(),
        );
        for (hash, cert, signature) in &doc.signatures {
            out.extend_from_slice(hash);
            let cert = cert.to_bytes();
            out.extend_from_slice(
                &u16::try_from(cert.len())
                    .map_err(|_| too_big())?
                    .to_be_bytes(),
            );
            out.extend_from_slice(&cert);
            out.extend_from_slice(&signature.to_bytes());
        }
    }
    Ok(out)
}

fn decode(payload: &[u8]) -> Result<Bundle, BackupError> {
    let mut r = Reader(payload);
    let seed: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(
        r.take(KEY_LEN)?
            .try_into()
            .map_err(|_| BackupError::Damaged("short key"))?,
    );
    let account_key = AccountKey::from_seed(&seed);
    let count = r.u8()?;
    let mut docs = Vec::new();
    for _ in 0..count {
        let kind =
            DocKind::from_code(r.u8()?).ok_or(BackupError::Damaged("an unknown document kind"))?;
        let len = r.u32()? as usize;
        let snapshot = r.take(len)?.to_vec();
        let sigs = r.u32()? as usize;
        // Each signature takes at least 98 bytes: a count beyond what is
        // left is a lie, refused before any allocation.
        if sigs > r.0.len() / 98 {
            return Err(BackupError::Damaged("more signatures than bytes"));
        }
        let mut signatures = Vec::with_capacity(sigs);
        for _ in 0..sigs {
            let hash: Hash = r
                .take(32)?
                .try_into()
                .map_err(|_| BackupError::Damaged("short hash"))?;
            let cert_len = usize::from(r.u16()?);
            let cert = DeviceCert::from_bytes(r.take(cert_len)?)
                .map_err(|_| BackupError::Damaged("a bad certificate"))?;
            let signature: [u8; 64] = r
                .take(64)?
                .try_into()
                .map_err(|_| BackupError::Damaged("short signature"))?;
            signatures.push((hash, cert, Signature::from_bytes(&signature)));
        }
        docs.push(ExportedDoc {
            kind,
            snapshot,
            signatures,
        });
    }
    if !r.0.is_empty() {
        return Err(BackupError::Damaged("bytes after the last document"));
    }
    Ok(Bundle { account_key, docs })
}

/// Reads fixed-size fields off the front of a byte string.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BackupError> {
        if self.0.len() < n {
            return Err(BackupError::Damaged("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, BackupError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, BackupError> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn u32(&mut self) -> Result<u32, BackupError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::DeviceKey;

    fn sample() -> Bundle {
        let account_key = AccountKey::generate();
        let device = DeviceKey::generate();
        let cert = DeviceCert::issue(&account_key, device.id(), "laptop", 1).unwrap();
        let signature = device.sign(kith_keys::sign::Context::DeviceRecord, b"x");
        Bundle {
            account_key,
            docs: vec![ExportedDoc {
                kind: DocKind::Profile,
                snapshot: b"a snapshot with the name Bob".to_vec(),
                signatures: vec![([9; 32], cert, signature)],
            }],
        }
    }

    #[test]
    fn a_bundle_opens_only_with_its_passphrase_and_hides_its_content() {
        let bundle = sample();
        let sealed = seal_with(&bundle, b"correct horse", 10).unwrap();
        assert!(!sealed.windows(3).any(|w| w == b"Bob"));
        let opened = open(&sealed, b"correct horse").unwrap();
        assert_eq!(opened.account_key.id(), bundle.account_key.id());
        assert_eq!(opened.docs[0].snapshot, bundle.docs[0].snapshot);
        assert_eq!(opened.docs[0].signatures[0].0, [9; 32]);
        assert!(matches!(
            open(&sealed, b"wrong"),
            Err(BackupError::WrongPassphrase)
        ));
        assert!(matches!(
            seal_with(&bundle, b"", 10),
            Err(BackupError::EmptyPassphrase)
        ));
    }

    #[test]
    fn damaged_or_hostile_bundles_are_refused() {
        let sealed = seal_with(&sample(), b"pw", 10).unwrap();
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            open(&flipped, b"pw"),
            Err(BackupError::WrongPassphrase)
        ));
        let mut costly = sealed.clone();
        costly[MAGIC.len()] = 30;
        assert!(matches!(
            open(&costly, b"pw"),
            Err(BackupError::BadParameters)
        ));
        assert!(matches!(
            open(b"hello", b"pw"),
            Err(BackupError::NotABundle)
        ));
        assert!(matches!(
            open(&sealed[..HEADER_LEN + 3], b"pw"),
            Err(BackupError::WrongPassphrase)
        ));
        // A payload that claims more than it holds, sealed properly.
        assert!(matches!(
            decode(&[&[0u8; 32][..], &[1, 1, 0xff, 0xff, 0xff, 0xff]].concat()),
            Err(BackupError::Damaged(_))
        ));
    }
}
