//! `/kith/sync/1` and gossip announcements: moving signed document changes.
//!
//! Every Automerge change travels with its author device's signature over
//! `owner || doc || change hash` (context `kith/document-change/v1`) and the
//! author's device certificate. [`verify_batch`] checks every change before
//! any is applied: certificate valid and issued by the document's owner,
//! device not revoked, Automerge actor id equal to the signing device,
//! signature valid. Good changes pass, bad ones are reported; so any node may
//! relay a document it holds and none can forge one.

use std::collections::HashMap;

use kith_crdt::{Doc, DocKind, Hash, ParsedChange};
use kith_keys::{
    AccountId, DeviceCert, DeviceId, Signature,
    sign::{Context, Payload},
};
use serde::{Deserialize, Serialize};

/// The libp2p protocol name.
pub const PROTOCOL: &str = "/kith/sync/1";

/// Most documents asked for in one request.
pub const MAX_SYNC_ITEMS: usize = 256;

/// Most heads listed per document.
pub const MAX_HEADS: usize = 64;

/// Largest sync request, in bytes.
pub const MAX_SYNC_REQUEST_BYTES: u64 = 256 * 1024;

/// Largest sync response, in bytes; a server stops adding changes before it
/// and marks the item `more`.
pub const MAX_SYNC_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

/// Largest announcement, in bytes (gossipsub's transmit limit sits just above).
pub const MAX_ANNOUNCEMENT_BYTES: usize = 16 * 1024;

/// Changes carried inline in one announcement: at most this many, and only
/// while the announcement stays under [`MAX_INLINE_BYTES`].
pub const MAX_INLINE_CHANGES: usize = 16;

/// Budget for inline change bytes in an announcement; larger edits are
/// announced by heads only and pulled.
pub const MAX_INLINE_BYTES: usize = 8 * 1024;

/// The gossipsub topic carrying an account's announcements.
pub fn topic(account: &AccountId) -> String {
    format!("/kith/account/1/{account}")
}

/// The bytes an author signs for one change.
pub fn change_payload(owner: &AccountId, doc: DocKind, hash: &Hash) -> Vec<u8> {
    Payload::new()
        .fixed(owner.as_bytes())
        .str(doc.as_str())
        .fixed(hash)
        .finish()
}

/// A change with its author's signature; `cert` indexes the batch's certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedChange {
    #[serde(with = "crate::friend::serde_bytes_vec")]
    pub bytes: Vec<u8>,
    #[serde(with = "kith_keys::sign::signature_bytes")]
    pub signature: Signature,
    pub cert: u16,
}

/// Changes of one document with the certificates of their authors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBatch {
    pub certs: Vec<DeviceCert>,
    pub changes: Vec<SignedChange>,
}

impl ChangeBatch {
    /// Add a change, sharing certificate entries between changes of one device.
    pub fn push(&mut self, bytes: Vec<u8>, signature: Signature, cert: &DeviceCert) {
        let cert = cert_index(&mut self.certs, cert);
        self.changes.push(SignedChange {
            bytes,
            signature,
            cert,
        });
    }

    /// Approximate encoded size, for response budgets.
    pub fn size(&self) -> usize {
        self.changes
            .iter()
            .map(|c| c.bytes.len() + 72)
            .sum::<usize>()
            + self.certs.len() * 200
    }
}

/// Signatures over changes named by hash, with their authors' certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSignatures {
    pub certs: Vec<DeviceCert>,
    pub changes: Vec<HashSignature>,
}

/// One change's signature; `cert` indexes the certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashSignature {
    #[serde(with = "bytes32")]
    pub hash: Hash,
    #[serde(with = "kith_keys::sign::signature_bytes")]
    pub signature: Signature,
    pub cert: u16,
}

impl ChangeSignatures {
    pub fn push(&mut self, hash: Hash, signature: Signature, cert: &DeviceCert) {
        let cert = cert_index(&mut self.certs, cert);
        self.changes.push(HashSignature {
            hash,
            signature,
            cert,
        });
    }
}

/// The index of `cert` in `certs`, added if new: a device's certificate is
/// sent once however many of its changes follow.
fn cert_index(certs: &mut Vec<DeviceCert>, cert: &DeviceCert) -> u16 {
    let index = match certs.iter().position(|c| c == cert) {
        Some(i) => i,
        None => {
            certs.push(cert.clone());
            certs.len() - 1
        }
    };
    u16::try_from(index).unwrap_or(u16::MAX)
}

mod bytes32 {
    use serde::{Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(hash: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(hash)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let bytes = crate::friend::serde_bytes_vec::deserialize(d)?;
        bytes
            .try_into()
            .map_err(|_| D::Error::custom("a change hash is 32 bytes"))
    }
}

/// Largest whole document accepted in a pull response, in bytes (compressed).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// A server sends the whole document rather than its changes one by one
/// when the requester lacks at least this many changes: one compressed
/// document and a signature per head is far smaller than a signature per
/// change.
pub const DOCUMENT_AFTER_CHANGES: usize = 32;

/// Check the heads a whole document lists in its uncompressed prefix
/// (`kith_crdt::guard::document_heads`) before anything of it is
/// inflated: every head must carry a good signature of a device the owner
/// certified. (Revocation cut-offs are checked on the loaded document, for
/// every change in it: [`open_document`].) A head vouches for its ancestors
/// (their hashes are in its bytes), so once the document loads with exactly
/// these heads, authored by these devices ([`check_document_authors`]), the
/// heads' signatures cover the whole document. Returns the heads'
/// signatures, to store beside it.
pub fn verify_document_heads(
    owner: &AccountId,
    doc: DocKind,
    heads: &[Hash],
    signed: &ChangeSignatures,
) -> Result<Vec<Vouched>, String> {
    let genesis = kith_crdt::genesis_hash();
    let mut vouched = Vec::new();
    for head in heads.iter().filter(|h| **h != genesis) {
        let entry = signed
            .changes
            .iter()
            .find(|s| s.hash == *head)
            .ok_or("a head of the document is not signed")?;
        let cert = signed
            .certs
            .get(usize::from(entry.cert))
            .ok_or("no such certificate in the document's signatures")?;
        check_cert(owner, cert)?;
        check_signature(owner, doc, cert, head, &entry.signature)?;
        vouched.push((*head, cert.clone(), entry.signature));
    }
    Ok(vouched)
}

/// After loading a document whose listed heads passed
/// [`verify_document_heads`]: its heads are exactly those, and each was
/// written by the device that signed it.
pub fn check_document_authors(incoming: &mut Doc, vouched: &[Vouched]) -> Result<(), String> {
    let genesis = kith_crdt::genesis_hash();
    let mut heads: Vec<Hash> = incoming
        .heads()
        .into_iter()
        .filter(|h| *h != genesis)
        .collect();
    let mut signed: Vec<Hash> = vouched.iter().map(|(h, _, _)| *h).collect();
    heads.sort_unstable();
    signed.sort_unstable();
    if heads != signed {
        return Err("the document's heads are not the ones it lists".into());
    }
    for (head, cert, _) in vouched {
        let actor = incoming
            .change_actor(head)
            .ok_or("a head of the document is missing")?;
        if actor != cert.device.as_bytes() {
            return Err("the change's actor id is not the signing device".into());
        }
    }
    Ok(())
}

/// A head of a whole document with the signature that vouches for it.
pub type Vouched = (Hash, DeviceCert, Signature);

/// A whole document from a peer, opened with every check in the cheapest
/// order: its size; the signatures of the heads its prefix lists (nothing
/// inflated yet); the [`kith_crdt::guard`]'s bounds and causal
/// completeness ([`Doc::from_peer`]); that the loaded heads are those and
/// were written by their signers; that no change in it is past a
/// revocation's cut-off; and, for an identity document, that no change in
/// it edits a revocation. The document is new changes by `device` once
/// loaded. Returns it with the heads' signatures.
pub fn open_document(
    owner: &AccountId,
    doc: DocKind,
    bytes: &[u8],
    signed: &ChangeSignatures,
    cutoffs: &Cutoffs,
    device: &DeviceId,
) -> Result<(Doc, Vec<Vouched>), String> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "a document of {} bytes is over the limit",
            bytes.len()
        ));
    }
    let listed = kith_crdt::guard::document_heads(bytes).map_err(|e| e.to_string())?;
    // Every whole document holds at least one signed change (the genesis
    // alone is never sent whole): one listing no other head has nothing to
    // vouch for it and never reaches Automerge's loader.
    let genesis = kith_crdt::genesis_hash();
    if !listed.iter().any(|h| *h != genesis) {
        return Err("a whole document must list a signed head".into());
    }
    let vouched = verify_document_heads(owner, doc, &listed, signed)?;
    let mut incoming = Doc::from_peer(bytes, device).map_err(|e| e.to_string())?;
    check_document_authors(&mut incoming, &vouched)?;
    // Walking every change's metadata costs 4 ms per 10,000 changes: only
    // when a device is revoked at all.
    if !cutoffs.is_empty() && incoming.holds_any(|actor, seq| cutoffs.refuses(actor, seq)) {
        return Err("the document holds changes of a revoked device past its revocation".into());
    }
    if doc == DocKind::Identity {
        let changes = incoming.changes_since(&[]).map_err(|e| e.to_string())?;
        if changes
            .iter()
            .any(kith_crdt::identity::forbidden_revocation_edit)
        {
            return Err("the document overwrites or deletes a revocation".into());
        }
    }
    Ok((incoming, vouched))
}

/// For one document, the revoked devices and the sequence number of each
/// one's last accepted change in it: a change by such a device past that
/// number is refused, on every path (`docs/protocol.md`, "Revocation").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cutoffs(Vec<([u8; 32], u64)>);

impl Cutoffs {
    /// The cut-offs of `revocations` for document `kind`.
    pub fn of(revocations: &[kith_crdt::identity::Revocation], kind: DocKind) -> Self {
        Cutoffs(
            revocations
                .iter()
                .map(|r| (*r.device.as_bytes(), r.cutoff_for(kind)))
                .collect(),
        )
    }

    /// Whether the change number `seq` written by `actor` is past a cut-off.
    pub fn refuses(&self, actor: &[u8], seq: u64) -> bool {
        self.0
            .iter()
            .any(|(device, cutoff)| device.as_slice() == actor && seq > *cutoff)
    }

    /// Whether `device` is revoked at all.
    pub fn revokes(&self, device: &DeviceId) -> bool {
        self.0.iter().any(|(d, _)| d == device.as_bytes())
    }

    /// Whether no device is revoked (nothing to refuse).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A change that failed verification, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
    /// Refused only because its author is revoked (a peer that has not seen
    /// the revocation yet may pass it on in good faith); otherwise it is
    /// malformed or forged, which no honest node sends.
    pub revoked: bool,
}

/// A change that passed, with who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub change: ParsedChange,
    pub signature: Signature,
    pub cert: DeviceCert,
}

/// Whether `cert` is a certificate the owner issued that verifies.
fn check_cert(owner: &AccountId, cert: &DeviceCert) -> Result<(), String> {
    cert.verify().map_err(|e| format!("certificate: {e}"))?;
    if cert.account != *owner {
        return Err(format!(
            "certificate is for account {}, not the owner",
            cert.account
        ));
    }
    Ok(())
}

/// Whether the change `hash` carries a good signature of its author `cert`.
pub fn check_signature(
    owner: &AccountId,
    doc: DocKind,
    cert: &DeviceCert,
    hash: &Hash,
    signature: &Signature,
) -> Result<(), String> {
    let payload = change_payload(owner, doc, hash);
    if cert
        .device
        .verify(Context::DocumentChange, &payload, signature)
        .is_err()
    {
        return Err("signature does not verify".into());
    }
    Ok(())
}

const REVOKED: &str = "the author device is revoked";

/// Check every change of `batch` for document `doc` of `owner`, refusing
/// those past a revocation's cut-off (`cutoffs`).
pub fn verify_batch(
    owner: &AccountId,
    doc: DocKind,
    batch: ChangeBatch,
    cutoffs: &Cutoffs,
) -> (Vec<Verified>, Vec<Rejected>) {
    verify_new(owner, doc, batch, cutoffs, |_| false)
}

/// [`verify_batch`] for a holder that already has some of the changes:
/// those `known` reports are dropped after their header is read (a hash),
/// before any signature is checked, as they were verified when they first
/// arrived. Duplicates are common (the same change pulled from several
/// relays); each would otherwise cost two signature checks.
pub fn verify_new(
    owner: &AccountId,
    doc: DocKind,
    batch: ChangeBatch,
    cutoffs: &Cutoffs,
    mut known: impl FnMut(&Hash) -> bool,
) -> (Vec<Verified>, Vec<Rejected>) {
    let mut cert_ok: HashMap<usize, Result<(), String>> = HashMap::new();
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for (index, signed) in batch.changes.into_iter().enumerate() {
        let reject = |reason: String| Rejected {
            revoked: reason == REVOKED,
            index,
            reason,
        };
        let Some(cert) = batch.certs.get(usize::from(signed.cert)) else {
            bad.push(reject("no such certificate in the batch".into()));
            continue;
        };
        // The header alone (no column is read) gives the hash and the
        // author: a bad signature costs a SHA-256 and one verification.
        let header = match kith_crdt::guard::change_header(&signed.bytes) {
            Ok(h) => h,
            Err(e) => {
                bad.push(reject(e.to_string()));
                continue;
            }
        };
        if known(&header.hash) {
            continue;
        }
        let cert_check = cert_ok
            .entry(usize::from(signed.cert))
            .or_insert_with(|| check_cert(owner, cert));
        if let Err(reason) = cert_check {
            bad.push(reject(reason.clone()));
            continue;
        }
        if header.actor != cert.device.as_bytes() {
            bad.push(reject(
                "the change's actor id is not the signing device".into(),
            ));
            continue;
        }
        if let Err(reason) = check_signature(owner, doc, cert, &header.hash, &signed.signature) {
            bad.push(reject(reason));
            continue;
        }
        if cutoffs.refuses(&header.actor, header.seq) {
            bad.push(reject(REVOKED.into()));
            continue;
        }
        let change = match ParsedChange::parse(signed.bytes) {
            Ok(c) => c,
            Err(e) => {
                bad.push(reject(e.to_string()));
                continue;
            }
        };
        if doc == DocKind::Identity && kith_crdt::identity::forbidden_revocation_edit(&change) {
            bad.push(reject(
                "the change overwrites or deletes a revocation".into(),
            ));
            continue;
        }
        good.push(Verified {
            change,
            signature: signed.signature,
            cert: cert.clone(),
        });
    }
    (good, bad)
}

/// "Send me what I lack of this document."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullItem {
    pub owner: AccountId,
    pub doc: DocKind,
    /// The requester's heads (hashes the server does not know are ignored).
    pub heads: Vec<Hash>,
    /// The server's heads at the end of the last complete pull from this
    /// server: the requester holds everything up to them, so the server can
    /// send exactly what is new even when both sides changed.
    pub since: Vec<Hash>,
}

/// A request on `/kith/sync/1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRequest {
    /// Send me what I lack of these documents.
    Pull(Vec<PullItem>),
    /// Which of these documents differ from your copies? The cheap opening
    /// of a reconnect: a few bytes per document, and a pull only for those
    /// that differ.
    Check(Vec<CheckGroup>),
}

impl SyncRequest {
    /// Its size on the wire, in bytes (what the requester paid to send it).
    pub fn wire_len(&self) -> u64 {
        cbor4ii::serde::to_vec(Vec::new(), self)
            .map(|b| b.len() as u64)
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PullOutcome {
    /// The changes the requester lacks; `heads` are the server's; `more` if
    /// the response budget cut the list (pull again).
    Changes {
        heads: Vec<Hash>,
        batch: ChangeBatch,
        more: bool,
    },
    /// The whole document, compressed, when the requester lacks much of it
    /// (or the server holds some changes only as part of a signed whole):
    /// `doc` is an Automerge document; `signed` signs each of its heads,
    /// and each head vouches for all its ancestors through the hash chain.
    Document {
        #[serde(with = "crate::friend::serde_bytes_vec")]
        doc: Vec<u8>,
        signed: ChangeSignatures,
    },
    /// The requester may not read this document.
    Denied,
    /// The server holds no copy.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResult {
    pub owner: AccountId,
    pub doc: DocKind,
    pub outcome: PullOutcome,
}

/// The answer to a [`SyncRequest`] of the same variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncResponse {
    Pull(Vec<PullResult>),
    /// One bitmask per group, in order: bit `i` set means the group's `i`-th
    /// document is worth pulling (it differs, or the server will say why not).
    #[serde(with = "crate::friend::serde_bytes_vec")]
    Check(Vec<u8>),
    /// The requester is over its budget with this server: ask again later.
    Busy,
}

/// The first bytes of SHA-256 over a document's sorted heads: equal digests
/// mean equal heads, so equal histories. 64 bits make an accidental match
/// negligible; a dishonest server could as well answer "unchanged" anyway.
pub type HeadsDigest = [u8; 8];

pub fn heads_digest(heads: &[Hash]) -> HeadsDigest {
    use sha2::Digest as _;
    let mut sorted = heads.to_vec();
    sorted.sort_unstable();
    let mut hasher = sha2::Sha256::new();
    for head in &sorted {
        hasher.update(head);
    }
    let mut digest = [0u8; 8];
    digest.copy_from_slice(&hasher.finalize()[..8]);
    digest
}

/// Most documents in one check group (one bit each in the answer).
pub const MAX_CHECK_DOCS: usize = 8;

/// "Owner `owner`'s documents, as I hold them": on the wire one byte string,
/// `owner (32) || (kind code (1) || heads digest (8))*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckGroup {
    pub owner: AccountId,
    pub docs: Vec<(DocKind, HeadsDigest)>,
}

impl CheckGroup {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.owner.as_bytes().to_vec();
        for (kind, digest) in self.docs.iter().take(MAX_CHECK_DOCS) {
            out.push(kind.code());
            out.extend_from_slice(digest);
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (owner, rest) = bytes.split_first_chunk::<32>()?;
        let owner = AccountId::from_bytes(*owner).ok()?;
        if rest.len() % 9 != 0 || rest.len() / 9 > MAX_CHECK_DOCS {
            return None;
        }
        let docs = rest
            .chunks_exact(9)
            .map(|entry| {
                let (code, digest) = entry.split_first()?;
                Some((DocKind::from_code(*code)?, digest.try_into().ok()?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { owner, docs })
    }
}

impl Serialize for CheckGroup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.to_bytes())
    }
}

impl<'de> Deserialize<'de> for CheckGroup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = crate::friend::serde_bytes_vec::deserialize(d)?;
        Self::from_bytes(&bytes).ok_or_else(|| serde::de::Error::custom("malformed check group"))
    }
}

/// Published on the owner's topic after every change: "document `doc` of
/// `owner` now has these heads", signed by the announcing device (see
/// [`Announcement::seal`]). An announcement is a hint to pull, or to apply
/// the small public changes it carries; a follower acts on it only if the
/// announcing device is one that may hold the document (the owner's, or a
/// friend's), and what it pulls or applies is verified change by change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub owner: AccountId,
    pub doc: DocKind,
    pub heads: Vec<Hash>,
    /// The device announcing (its public key, which signs the
    /// announcement): followers may pull from it, and a relay's
    /// announcement differs from the author's, so gossip's content-hash
    /// de-duplication never swallows it.
    #[serde(with = "bytes32")]
    pub by: [u8; 32],
    /// The new changes themselves, when the document is public and they are
    /// small: followers holding their dependencies apply them without a
    /// pull. Verified like pulled changes; never present for friends-only
    /// documents (the topic is readable by anyone who follows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<ChangeBatch>,
}

/// An announcement as gossip carries it: its CBOR body and the signature
/// of the device named in it, `by`, over that body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SignedAnnouncement {
    #[serde(with = "crate::friend::serde_bytes_vec")]
    body: Vec<u8>,
    #[serde(with = "kith_keys::sign::signature_bytes")]
    signature: Signature,
}

/// Why a gossip message is not an announcement anyone honest sent: the
/// sender of such a message is penalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnouncementError {
    #[error("announcement of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("malformed announcement")]
    Malformed,
    #[error("the announcing device's signature does not verify")]
    BadSignature,
}

/// A gossip message's id:/// A gossip message's id: the first 20 bytes of SHA-256 over its bytes, so
/// identical announcements from different relays are one message.
pub fn announcement_id(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)[..20].to_vec()
}

impl Announcement {
    /// The wire bytes: the body signed by `sign`, which must be the key of
    /// device `self.by`.
    pub fn seal(&self, sign: impl FnOnce(&[u8]) -> Signature) -> Vec<u8> {
        let body = cbor4ii::serde::to_vec(Vec::new(), self).unwrap_or_default();
        let signature = sign(&body);
        cbor4ii::serde::to_vec(Vec::new(), &SignedAnnouncement { body, signature })
            .unwrap_or_default()
    }

    /// Decode and check wire bytes: size, shape, limits, and the announcing
    /// device's signature (one verification, before anything it carries is
    /// looked at).
    pub fn open(bytes: &[u8]) -> Result<Self, AnnouncementError> {
        if bytes.len() > MAX_ANNOUNCEMENT_BYTES {
            return Err(AnnouncementError::TooLarge(bytes.len()));
        }
        let signed: SignedAnnouncement =
            cbor4ii::serde::from_slice(bytes).map_err(|_| AnnouncementError::Malformed)?;
        let a: Announcement =
            cbor4ii::serde::from_slice(&signed.body).map_err(|_| AnnouncementError::Malformed)?;
        let inline_ok = match &a.changes {
            None => true,
            Some(batch) => a.doc.is_public() && batch.changes.len() <= MAX_INLINE_CHANGES,
        };
        if a.heads.len() > MAX_HEADS || !inline_ok {
            return Err(AnnouncementError::Malformed);
        }
        let device = DeviceId::from_bytes(a.by).map_err(|_| AnnouncementError::Malformed)?;
        device
            .verify(Context::Announcement, &signed.body, &signed.signature)
            .map_err(|_| AnnouncementError::BadSignature)?;
        Ok(a)
    }

    /// The announcing device.
    pub fn announcer(&self) -> Option<DeviceId> {
        DeviceId::from_bytes(self.by).ok()
    }
}

/// Who may read a document: anyone if it is public; otherwise its owner's
/// own devices and the owner's friends (as the serving node knows them).
pub fn may_read(
    doc: DocKind,
    owner: &AccountId,
    requester: &AccountId,
    owner_friends: &[AccountId],
) -> bool {
    doc.is_public() || requester == owner || owner_friends.contains(requester)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_crdt::{Doc, profile};
    use kith_keys::{AccountKey, DeviceKey};

    struct Author {
        account: AccountKey,
        device: DeviceKey,
        cert: DeviceCert,
    }

    fn author(seed: u8) -> Author {
        let account = AccountKey::from_seed(&[seed; 32]);
        let device = DeviceKey::from_seed(&[seed + 50; 32]);
        let cert = DeviceCert::issue(&account, device.id(), "d", 1).unwrap();
        Author {
            account,
            device,
            cert,
        }
    }

    fn signed_edit(
        a: &Author,
        doc: &mut Doc,
        field: &str,
        value: &str,
    ) -> (ParsedChange, Signature) {
        profile::set(doc, field, value).unwrap();
        let change = doc.commit().unwrap();
        let sig = a.device.sign(
            Context::DocumentChange,
            &change_payload(&a.account.id(), DocKind::Profile, &change.hash),
        );
        (change, sig)
    }

    #[test]
    fn good_changes_pass_and_bad_ones_are_rejected_one_by_one() {
        let owner = author(1);
        let mallory = author(2);
        let mut doc = Doc::new(&owner.device.id());
        let mut batch = ChangeBatch::default();
        let (c1, s1) = signed_edit(&owner, &mut doc, "name", "Ada");
        batch.push(c1.bytes.clone(), s1, &owner.cert);

        // Forged: valid Automerge by a device certified by another account.
        let mut forged_doc = Doc::new(&mallory.device.id());
        let (c2, s2) = signed_edit(&mallory, &mut forged_doc, "name", "Eve");
        batch.push(c2.bytes, s2, &mallory.cert);

        // Actor mismatch: the owner's device signs a change written by another actor.
        let (c3, _) = signed_edit(&mallory, &mut forged_doc, "bio", "x");
        let s3 = owner.device.sign(
            Context::DocumentChange,
            &change_payload(&owner.account.id(), DocKind::Profile, &c3.hash),
        );
        batch.push(c3.bytes, s3, &owner.cert);

        // Signed for another document of the same owner.
        let (c4, _) = signed_edit(&owner, &mut doc, "city", "x");
        let s4 = owner.device.sign(
            Context::DocumentChange,
            &change_payload(&owner.account.id(), DocKind::ProfilePrivate, &c4.hash),
        );
        batch.push(c4.bytes, s4, &owner.cert);

        // Tampered bytes.
        let (c5, s5) = signed_edit(&owner, &mut doc, "x", "y");
        let mut tampered = c5.bytes.clone();
        let n = tampered.len();
        tampered[n - 1] ^= 1;
        batch.push(tampered, s5, &owner.cert);

        let none = Cutoffs::default();
        let (good, bad) = verify_batch(&owner.account.id(), DocKind::Profile, batch, &none);
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].change, c1);
        let indexes: Vec<usize> = bad.iter().map(|r| r.index).collect();
        assert_eq!(indexes, vec![1, 2, 3, 4]);
        assert!(bad[0].reason.contains("not the owner"), "{:?}", bad[0]);
        assert!(bad[1].reason.contains("actor id"), "{:?}", bad[1]);
    }

    /// Changes the holder has are dropped before any signature check, and
    /// only those: a new change with a bad signature is still refused.
    #[test]
    fn known_changes_are_skipped_before_their_signatures() {
        let owner = author(1);
        let mut doc = Doc::new(&owner.device.id());
        let (c1, _) = signed_edit(&owner, &mut doc, "name", "Ada");
        let (c2, s2) = signed_edit(&owner, &mut doc, "city", "Paris");
        let (c3, s3) = signed_edit(&owner, &mut doc, "bio", "hi");
        let mut batch = ChangeBatch::default();
        // c1 is known: its (wrong) signature is never looked at.
        batch.push(c1.bytes.clone(), s2, &owner.cert);
        batch.push(c2.bytes.clone(), s2, &owner.cert);
        batch.push(c3.bytes.clone(), s2, &owner.cert);
        let (good, bad) = verify_new(
            &owner.account.id(),
            DocKind::Profile,
            batch,
            &Cutoffs::default(),
            |h| *h == c1.hash,
        );
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].change, c2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].index, 2);
        assert_ne!(s3, s2);
    }

    /// A revoked device's changes up to its cut-off stay valid, later ones
    /// are refused, the same on the change-by-change path and the
    /// whole-document path (once, the first refused them while the second
    /// took them, and copies diverged).
    #[test]
    fn a_revocation_cuts_off_the_same_changes_on_every_path() {
        let owner = author(1);
        let mut doc = Doc::new(&owner.device.id());
        let mut batch = ChangeBatch::default();
        let mut signed = ChangeSignatures::default();
        for i in 0..3 {
            let (c, s) = signed_edit(&owner, &mut doc, "name", &format!("v{i}"));
            batch.push(c.bytes, s, &owner.cert);
            signed = ChangeSignatures::default();
            signed.push(c.hash, s, &owner.cert);
        }
        // Revoked after its second change (sequence numbers 1 and 2).
        let revocation = kith_crdt::identity::Revocation::issue(
            &owner.account,
            owner.device.id(),
            5,
            [0, 2, 0, 0, 0, 0],
        );
        let cutoffs = Cutoffs::of(&[revocation], DocKind::Profile);
        let (good, bad) = verify_batch(&owner.account.id(), DocKind::Profile, batch, &cutoffs);
        assert_eq!(good.len(), 2);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].revoked && bad[0].reason.contains("revoked"));
        let me = DeviceKey::generate().id();
        let whole = open_document(
            &owner.account.id(),
            DocKind::Profile,
            &doc.snapshot().unwrap(),
            &signed,
            &cutoffs,
            &me,
        );
        assert!(whole.unwrap_err().contains("revoked"));
        assert!(
            open_document(
                &owner.account.id(),
                DocKind::Profile,
                &doc.snapshot().unwrap(),
                &signed,
                &Cutoffs::default(),
                &me
            )
            .is_ok()
        );
        // A copy that took the third change before it learnt of the
        // revocation drops it, and ends with the heads of those that never did.
        let mut late = Doc::load(&doc.save().unwrap(), &me).unwrap();
        assert_eq!(late.purge(|a, s| cutoffs.refuses(a, s)).unwrap(), 1);
        let mut early = Doc::new(&me);
        early
            .apply(good.into_iter().map(|v| v.change).collect())
            .unwrap();
        assert_eq!(late.heads(), early.heads());
        assert_eq!(profile::get(&late, "name").as_deref(), Some("v1"));
    }

    #[test]
    fn check_groups_are_compact_and_parse_back() {
        let owner = author(1).account.id();
        let group = CheckGroup {
            owner,
            docs: vec![
                (DocKind::Identity, [1; 8]),
                (DocKind::Profile, [2; 8]),
                (DocKind::Feed, [3; 8]),
            ],
        };
        let wire =
            cbor4ii::serde::to_vec(Vec::new(), &SyncRequest::Check(vec![group.clone()])).unwrap();
        // 32-byte owner + 3 × 9 bytes, plus a few bytes of CBOR framing.
        assert!(wire.len() <= 32 + 27 + 12, "{} bytes", wire.len());
        let back: SyncRequest = cbor4ii::serde::from_slice(&wire).unwrap();
        assert_eq!(back, SyncRequest::Check(vec![group.clone()]));

        let bytes = group.to_bytes();
        assert!(CheckGroup::from_bytes(&bytes[..bytes.len() - 1]).is_none());
        let mut bad_kind = bytes.clone();
        bad_kind[32] = 99;
        assert!(CheckGroup::from_bytes(&bad_kind).is_none());
        let mut too_many = owner.as_bytes().to_vec();
        for _ in 0..=MAX_CHECK_DOCS {
            too_many.extend_from_slice(&[2; 9]);
        }
        assert!(CheckGroup::from_bytes(&too_many).is_none());
    }

    #[test]
    fn heads_digest_ignores_order_but_not_content() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(heads_digest(&[a, b]), heads_digest(&[b, a]));
        assert_ne!(heads_digest(&[a]), heads_digest(&[a, b]));
        assert_ne!(heads_digest(&[]), heads_digest(&[a]));
    }

    #[test]
    fn inline_changes_only_for_public_documents() {
        let owner = author(1);
        let mut doc = Doc::new(&owner.device.id());
        let (c, s) = signed_edit(&owner, &mut doc, "name", "Ada");
        let mut batch = ChangeBatch::default();
        batch.push(c.bytes, s, &owner.cert);
        let public = Announcement {
            owner: owner.account.id(),
            doc: DocKind::Profile,
            heads: doc.heads(),
            by: *owner.device.id().as_bytes(),
            changes: Some(batch.clone()),
        };
        let seal = |a: &Announcement| a.seal(|b| owner.device.sign(Context::Announcement, b));
        assert_eq!(Announcement::open(&seal(&public)), Ok(public.clone()));
        let private = Announcement {
            doc: DocKind::ProfilePrivate,
            ..public.clone()
        };
        assert_eq!(
            Announcement::open(&seal(&private)),
            Err(AnnouncementError::Malformed)
        );
        let heads_only = Announcement {
            changes: None,
            ..public.clone()
        };
        assert_eq!(
            Announcement::open(&seal(&heads_only)),
            Ok(heads_only.clone())
        );
        assert_eq!(
            Announcement::open(&vec![0xa0; MAX_ANNOUNCEMENT_BYTES + 1]),
            Err(AnnouncementError::TooLarge(MAX_ANNOUNCEMENT_BYTES + 1))
        );
    }

    #[test]
    fn announcements_are_signed_by_the_device_they_name() {
        let owner = author(1);
        let mallory = author(2);
        let a = Announcement {
            owner: owner.account.id(),
            doc: DocKind::Profile,
            heads: vec![[7; 32]],
            by: *owner.device.id().as_bytes(),
            changes: None,
        };
        // Mallory names the owner's device but signs with her own key.
        let forged = a.seal(|b| mallory.device.sign(Context::Announcement, b));
        assert_eq!(
            Announcement::open(&forged),
            Err(AnnouncementError::BadSignature)
        );
        // A signature for another context does not count either.
        let wrong_context = a.seal(|b| owner.device.sign(Context::DocumentChange, b));
        assert_eq!(
            Announcement::open(&wrong_context),
            Err(AnnouncementError::BadSignature)
        );
        let good = a.seal(|b| owner.device.sign(Context::Announcement, b));
        assert_eq!(
            Announcement::open(&good).unwrap().announcer(),
            Some(owner.device.id())
        );
        // Every truncation is an error, never a panic.
        for cut in 0..good.len() {
            assert!(Announcement::open(&good[..cut]).is_err());
        }
    }

    #[test]
    fn a_whole_document_verifies_by_its_signed_heads() {
        let owner = author(1);
        let mallory = author(2);
        let mut doc = Doc::new(&owner.device.id());
        let mut last = None;
        for i in 0..40 {
            last = Some(signed_edit(&owner, &mut doc, "bio", &format!("bio-{i}")));
        }
        let (head, signature) = last.unwrap();
        let mut signed = ChangeSignatures::default();
        signed.push(head.hash, signature, &owner.cert);
        let bytes = doc.snapshot().unwrap();
        let me = DeviceKey::generate().id();
        let revoked = Cutoffs::of(
            &[kith_crdt::identity::Revocation::issue(
                &owner.account,
                owner.device.id(),
                1,
                [0; 6],
            )],
            DocKind::Profile,
        );
        let open = |kind, bytes: &[u8], signed: &ChangeSignatures, is_revoked: bool| {
            let none = Cutoffs::default();
            let cutoffs = if is_revoked { &revoked } else { &none };
            open_document(&owner.account.id(), kind, bytes, signed, cutoffs, &me)
        };
        let (mut opened, vouched) = open(DocKind::Profile, &bytes, &signed, false).unwrap();
        assert_eq!(vouched.len(), 1);
        assert_eq!(vouched[0].0, head.hash);
        assert_eq!(profile::get(&opened, "bio").as_deref(), Some("bio-39"));
        assert_eq!(opened.heads(), vec![head.hash]);

        // Signed for another document, by a revoked device, by no one.
        assert!(open(DocKind::Feed, &bytes, &signed, false).is_err());
        assert!(open(DocKind::Profile, &bytes, &signed, true).is_err());
        assert!(
            open(
                DocKind::Profile,
                &bytes,
                &ChangeSignatures::default(),
                false
            )
            .is_err()
        );

        // A forged change on top: its head is Mallory's, certified by
        // another account, so the document is refused as a whole.
        let mut forged = Doc::load(&bytes, &owner.device.id()).unwrap();
        let mut forged_as_mallory = Doc::load(&bytes, &mallory.device.id()).unwrap();
        let (fake, fake_sig) = signed_edit(&mallory, &mut forged_as_mallory, "bio", "evil");
        forged.apply(vec![fake.clone()]).unwrap();
        let mut with_fake = signed.clone();
        with_fake.push(fake.hash, fake_sig, &mallory.cert);
        let reason = open(
            DocKind::Profile,
            &forged.snapshot().unwrap(),
            &with_fake,
            false,
        )
        .unwrap_err();
        assert!(reason.contains("not the owner"), "{reason}");

        // The heads in the prefix must be the document's: signed heads
        // listed over other content are refused once loaded.
        let mut other = Doc::new(&owner.device.id());
        signed_edit(&owner, &mut other, "bio", "other");
        let mut relabelled = other.snapshot().unwrap();
        let at = relabelled
            .windows(32)
            .position(|w| w == other.heads()[0])
            .unwrap();
        relabelled[at..at + 32].copy_from_slice(&head.hash);
        assert!(open(DocKind::Profile, &relabelled, &signed, false).is_err());
    }

    /// Finding 2 of the hostile-peers review: a document chunk followed by a
    /// forged change whose dependency is missing. Automerge loads the chunk
    /// and queues the change silently; the heads (all genuine and signed)
    /// pass; when the dependency arrives, the forged change applies.
    #[test]
    fn a_forged_change_cannot_hide_behind_a_missing_dependency() {
        let owner = author(1);
        let mut doc = Doc::new(&owner.device.id());
        let (first, first_sig) = signed_edit(&owner, &mut doc, "name", "Ada");
        let old_snapshot = doc.snapshot().unwrap();
        // The owner's next real change, which the attacker has seen.
        let (next, _) = signed_edit(&owner, &mut doc, "bio", "real");
        // A forged change "by the owner's device" on top of it: unsigned.
        let mut attacker = Doc::load(&doc.save().unwrap(), &owner.device.id()).unwrap();
        profile::set(&mut attacker, "forged", "yes").unwrap();
        let forged = attacker.commit().unwrap();
        let mut signed = ChangeSignatures::default();
        signed.push(first.hash, first_sig, &owner.cert);
        let mut bytes = old_snapshot.clone();
        bytes.extend_from_slice(&forged.bytes);

        // Before the guard: loaded, verified by its (genuine) heads, and
        // the forged field appears once the real change arrives.
        let mut victim = Doc::load(&bytes, &owner.device.id()).unwrap();
        let listed = kith_crdt::guard::document_heads(&old_snapshot).unwrap();
        let vouched =
            verify_document_heads(&owner.account.id(), DocKind::Profile, &listed, &signed).unwrap();
        check_document_authors(&mut victim, &vouched).unwrap();
        victim.apply(vec![next.clone()]).unwrap();
        assert_eq!(profile::get(&victim, "forged").as_deref(), Some("yes"));

        // With it: refused outright.
        let me = DeviceKey::generate().id();
        let reason = open_document(
            &owner.account.id(),
            DocKind::Profile,
            &bytes,
            &signed,
            &Cutoffs::default(),
            &me,
        )
        .unwrap_err();
        assert!(reason.contains("after the chunk"), "{reason}");
    }

    /// Fuzz crashers (`fuzz/crashers/document/`, `sync_messages/`): a whole
    /// document that lists no heads reached Automerge's loader unsigned,
    /// where a debug assertion aborted the process.
    #[test]
    fn documents_that_list_no_signed_head_are_refused_before_loading() {
        let owner = author(1);
        let me = DeviceKey::generate().id();
        let crasher = include_bytes!("../../fuzz/crashers/document/zero-heads-abort-in-load");
        let reason = open_document(
            &owner.account.id(),
            DocKind::Profile,
            crasher,
            &ChangeSignatures::default(),
            &Cutoffs::default(),
            &me,
        )
        .unwrap_err();
        assert!(reason.contains("signed head"), "{reason}");
        let response =
            include_bytes!("../../fuzz/crashers/sync_messages/pull-document-zero-heads-abort");
        if let Ok(SyncResponse::Pull(results)) = cbor4ii::serde::from_slice(response) {
            for result in results {
                if let PullOutcome::Document { doc, signed } = result.outcome {
                    assert!(
                        open_document(
                            &result.owner,
                            result.doc,
                            &doc,
                            &signed,
                            &Cutoffs::default(),
                            &me
                        )
                        .is_err()
                    );
                }
            }
        }
        // A document of the genesis alone lists only it: refused too.
        let genesis_only = Doc::new(&me).snapshot().unwrap();
        assert!(
            open_document(
                &owner.account.id(),
                DocKind::Profile,
                &genesis_only,
                &ChangeSignatures::default(),
                &Cutoffs::default(),
                &me
            )
            .is_err()
        );
    }

    #[test]
    fn serving_rule() {
        let (o, f, s) = (
            author(1).account.id(),
            author(2).account.id(),
            author(3).account.id(),
        );
        assert!(may_read(DocKind::Profile, &o, &s, &[]));
        assert!(may_read(DocKind::ProfilePrivate, &o, &o, &[]));
        assert!(may_read(DocKind::ProfilePrivate, &o, &f, &[f]));
        assert!(!may_read(DocKind::ProfilePrivate, &o, &s, &[f]));
        assert!(!may_read(DocKind::Friends, &o, &s, &[f]));
    }
}
