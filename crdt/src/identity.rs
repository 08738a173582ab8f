//! The `identity` document (public): the account's links to accounts on other platforms.
//!
//! ```text
//! ROOT.links.<platform>/<handle> = { platform: str, handle: str, proof: str, added_at: uint }
//! ```
//!
//! Device certificates and revocations join this document with linked devices.

use automerge::{ReadDoc as _, ScalarValue, transaction::Transactable as _};

use crate::{Doc, DocError};

const LINKS: &str = "links";

/// Longest platform name or handle, in bytes.
pub const MAX_LINK_PART_LEN: usize = 256;

/// Most links in one identity document.
pub const MAX_LINKS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub platform: String,
    pub handle: String,
    /// Where the proof is published (a URL), empty if none.
    pub proof: String,
    pub added_at: u64,
    /// The account key's signature claiming this handle (see
    /// `protocol::bridge::link_statement`); absent when added on a device
    /// without the account key.
    pub signature: Option<[u8; 64]>,
}

fn key(platform: &str, handle: &str) -> String {
    format!("{}/{}", platform.to_lowercase(), handle)
}

pub fn add_link(doc: &mut Doc, link: &Link) -> Result<(), DocError> {
    for part in [&link.platform, &link.handle, &link.proof] {
        if part.len() > MAX_LINK_PART_LEN {
            return Err(DocError::Limit(format!(
                "link parts are at most {MAX_LINK_PART_LEN} bytes"
            )));
        }
    }
    if link.platform.is_empty() || link.handle.is_empty() || link.platform.contains('/') {
        return Err(DocError::Limit(
            "a link needs a platform (without '/') and a handle".into(),
        ));
    }
    if links(doc).len() >= MAX_LINKS {
        return Err(DocError::Limit(format!("at most {MAX_LINKS} links")));
    }
    let links = doc.root_map(LINKS)?;
    let d = doc.inner_mut();
    let entry = d.put_object(
        &links,
        key(&link.platform, &link.handle),
        automerge::ObjType::Map,
    )?;
    d.put(&entry, "platform", link.platform.to_lowercase().as_str())?;
    d.put(&entry, "handle", link.handle.as_str())?;
    d.put(&entry, "proof", link.proof.as_str())?;
    d.put(&entry, "added_at", ScalarValue::Uint(link.added_at))?;
    if let Some(signature) = link.signature {
        d.put(&entry, "signature", ScalarValue::Bytes(signature.to_vec()))?;
    }
    Ok(())
}

/// Returns whether the link was there.
pub fn remove_link(doc: &mut Doc, platform: &str, handle: &str) -> Result<bool, DocError> {
    let Some(links) = doc.existing_root_map(LINKS) else {
        return Ok(false);
    };
    let key = key(platform, handle);
    if doc.inner().get(&links, key.as_str())?.is_none() {
        return Ok(false);
    }
    doc.inner_mut().delete(&links, key.as_str())?;
    Ok(true)
}

pub fn links(doc: &Doc) -> Vec<Link> {
    doc.read(links_unguarded)
}

fn links_unguarded(doc: &Doc) -> Vec<Link> {
    let Some(links) = doc.existing_root_map(LINKS) else {
        return Vec::new();
    };
    let d = doc.inner();
    d.keys(&links)
        .filter_map(|k| {
            let (_, entry) = d.get(&links, k.as_str()).ok()??;
            let field = |name: &str| d.get(&entry, name).ok().flatten().map(|(v, _)| v);
            Some(Link {
                platform: field("platform")?.as_str()?.to_string(),
                handle: field("handle")?.as_str()?.to_string(),
                proof: field("proof")?.as_str()?.to_string(),
                added_at: field("added_at")?.as_u64()?,
                signature: field("signature")
                    .and_then(|v| v.as_bytes().and_then(|b| <[u8; 64]>::try_from(b).ok())),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::DeviceKey;

    #[test]
    fn links_add_and_remove() {
        let mut doc = Doc::new(&DeviceKey::from_seed(&[1; 32]).id());
        let link = Link {
            platform: "Mastodon".into(),
            handle: "@ada@example.social".into(),
            proof: String::new(),
            added_at: 1,
            signature: Some([7; 64]),
        };
        add_link(&mut doc, &link).unwrap();
        doc.commit();
        assert_eq!(links(&doc)[0].platform, "mastodon");
        assert_eq!(links(&doc)[0].signature, Some([7; 64]));
        assert!(remove_link(&mut doc, "mastodon", "@ada@example.social").unwrap());
        assert!(links(&doc).is_empty());
    }
}

const DEVICES: &str = "devices";
const REVOCATIONS: &str = "revocations";

/// "Account `account` revokes `device` at `at`; in each document, only the
/// device's changes up to sequence number `cutoff[kind]` stay valid."
///
/// A device's changes to one document form a chain (each names the one
/// before), so "up to seq N" is the causal frontier of its accepted
/// changes, in constant size, and every node decides about every change
/// the same way from its header alone, whichever path it came by. Signed by
/// the account key in context `kith/device-revocation/v1` over
/// `"rev2" || account || device || at || cutoff[0..6]` (u64 each, in
/// [`DocKind::ALL`](crate::DocKind::ALL) order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub account: kith_keys::AccountId,
    pub device: kith_keys::DeviceId,
    pub at: u64,
    /// Per document kind (in `DocKind::ALL` order), the sequence number of
    /// the revoked device's last accepted change (0: none).
    pub cutoff: [u64; 6],
    pub signature: kith_keys::Signature,
}

/// Bytes of a stored revocation: payload then signature.
const REVOCATION_PAYLOAD_LEN: usize = 4 + 32 + 32 + 8 + 6 * 8;

impl Revocation {
    fn payload(
        account: &kith_keys::AccountId,
        device: &kith_keys::DeviceId,
        at: u64,
        cutoff: &[u64; 6],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(REVOCATION_PAYLOAD_LEN);
        out.extend_from_slice(b"rev2");
        out.extend_from_slice(account.as_bytes());
        out.extend_from_slice(device.as_bytes());
        out.extend_from_slice(&at.to_be_bytes());
        for seq in cutoff {
            out.extend_from_slice(&seq.to_be_bytes());
        }
        out
    }

    pub fn issue(
        account: &kith_keys::AccountKey,
        device: kith_keys::DeviceId,
        at: u64,
        cutoff: [u64; 6],
    ) -> Self {
        let payload = Self::payload(&account.id(), &device, at, &cutoff);
        let signature = account.sign(kith_keys::sign::Context::DeviceRevocation, &payload);
        Revocation {
            account: account.id(),
            device,
            at,
            cutoff,
            signature,
        }
    }

    pub fn verify(&self) -> Result<(), kith_keys::VerifyError> {
        let payload = Self::payload(&self.account, &self.device, self.at, &self.cutoff);
        self.account.verify(
            kith_keys::sign::Context::DeviceRevocation,
            &payload,
            &self.signature,
        )
    }

    /// Whether the revoked device's change number `seq` in document `kind`
    /// stays valid.
    pub fn allows(&self, kind: crate::DocKind, seq: u64) -> bool {
        seq <= self.cutoff_for(kind)
    }

    /// The sequence number of the revoked device's last accepted change in
    /// document `kind`.
    pub fn cutoff_for(&self, kind: crate::DocKind) -> u64 {
        crate::DocKind::ALL
            .iter()
            .position(|k| *k == kind)
            .and_then(|i| self.cutoff.get(i))
            .copied()
            .unwrap_or(0)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Self::payload(&self.account, &self.device, self.at, &self.cutoff);
        out.extend_from_slice(&self.signature.to_bytes());
        out
    }

    /// Parse and verify stored bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != REVOCATION_PAYLOAD_LEN + 64 || !bytes.starts_with(b"rev2") {
            return None;
        }
        let take32 = |at: usize| -> Option<[u8; 32]> { bytes.get(at..at + 32)?.try_into().ok() };
        let take8 = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        let account = kith_keys::AccountId::from_bytes(take32(4)?).ok()?;
        let device = kith_keys::DeviceId::from_bytes(take32(36)?).ok()?;
        let at = take8(68)?;
        let mut cutoff = [0u64; 6];
        for (i, seq) in cutoff.iter_mut().enumerate() {
            *seq = take8(76 + i * 8)?;
        }
        let signature: [u8; 64] = bytes.get(REVOCATION_PAYLOAD_LEN..)?.try_into().ok()?;
        let revocation = Revocation {
            account,
            device,
            at,
            cutoff,
            signature: kith_keys::Signature::from_bytes(&signature),
        };
        revocation.verify().is_ok().then_some(revocation)
    }
}

pub fn add_device(doc: &mut Doc, cert: &kith_keys::DeviceCert) -> Result<(), DocError> {
    let devices = doc.root_map(DEVICES)?;
    doc.inner_mut().put(
        &devices,
        cert.device.to_string(),
        ScalarValue::Bytes(cert.to_bytes()),
    )?;
    Ok(())
}

/// Certificates in the document that verify and belong to `owner`.
pub fn devices(doc: &Doc, owner: &kith_keys::AccountId) -> Vec<kith_keys::DeviceCert> {
    let kept = doc
        .views()
        .devices
        .get(owner, || doc.read(|d| devices_unguarded(d, owner)));
    kept.as_ref().clone()
}

fn devices_unguarded(doc: &Doc, owner: &kith_keys::AccountId) -> Vec<kith_keys::DeviceCert> {
    let Some(devices) = doc.existing_root_map(DEVICES) else {
        return Vec::new();
    };
    let d = doc.inner();
    d.keys(&devices)
        .filter_map(|k| {
            let (value, _) = d.get(&devices, k.as_str()).ok()??;
            let cert = kith_keys::DeviceCert::from_bytes(value.as_bytes()?).ok()?;
            (cert.verify().is_ok() && cert.account == *owner).then_some(cert)
        })
        .collect()
}

/// Write a revocation: one immutable value under the device's key in the
/// `revocations` map. No change may overwrite or delete it afterwards
/// ([`forbidden_revocation_edit`]).
pub fn add_revocation(doc: &mut Doc, revocation: &Revocation) -> Result<(), DocError> {
    let revocations = doc.root_map(REVOCATIONS)?;
    let key = revocation.device.to_string();
    if doc.inner().get(&revocations, key.as_str())?.is_some() {
        return Err(DocError::Limit(format!(
            "device {} is already revoked",
            revocation.device
        )));
    }
    doc.inner_mut()
        .put(&revocations, key, ScalarValue::Bytes(revocation.to_bytes()))?;
    Ok(())
}

/// Revocations in the document signed by `owner`'s account key (others are
/// ignored). Every value under a key counts, conflicting ones included.
pub fn revocations(doc: &Doc, owner: &kith_keys::AccountId) -> Vec<Revocation> {
    let kept = doc
        .views()
        .revocations
        .get(owner, || doc.read(|d| revocations_unguarded(d, owner)));
    kept.as_ref().clone()
}

fn revocations_unguarded(doc: &Doc, owner: &kith_keys::AccountId) -> Vec<Revocation> {
    let Some(revocations) = doc.existing_root_map(REVOCATIONS) else {
        return Vec::new();
    };
    let d = doc.inner();
    d.keys(&revocations)
        .flat_map(|k| d.get_all(&revocations, k.as_str()).unwrap_or_default())
        .filter_map(|(value, _)| {
            let revocation = Revocation::from_bytes(value.as_bytes()?)?;
            (revocation.account == *owner).then_some(revocation)
        })
        .collect()
}

/// Whether a change edits the `revocations` map other than by adding a new
/// key: overwriting or deleting a revocation, or the map itself. Refused
/// from every device, so a revocation, once made, stays. (Only the
/// identity document has such a map.)
pub fn forbidden_revocation_edit(change: &crate::ParsedChange) -> bool {
    let Ok(decoded) = std::panic::catch_unwind(|| {
        automerge::Change::from_bytes(change.bytes.clone()).map(|c| c.decode())
    }) else {
        return true;
    };
    let Ok(expanded) = decoded else {
        return true;
    };
    let target = revocations_map_id();
    expanded.operations.iter().any(|op| {
        let on_map = op.obj == target && !op.pred.is_empty();
        let on_root = op.obj == automerge::legacy::ObjectId::Root
            && matches!(&op.key, automerge::legacy::Key::Map(k) if k.as_str() == REVOCATIONS)
            && !op.pred.is_empty();
        on_map || on_root
    })
}

/// The `revocations` map's object id: created by the shared genesis change.
fn revocations_map_id() -> automerge::legacy::ObjectId {
    static ID: std::sync::OnceLock<automerge::legacy::ObjectId> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let genesis = Doc::new(&kith_keys::DeviceKey::from_seed(&[0; 32]).id());
        genesis
            .existing_root_map(REVOCATIONS)
            .and_then(|id| match id {
                automerge::ObjId::Id(counter, actor, _) => Some(automerge::legacy::ObjectId::Id(
                    automerge::legacy::OpId::new(counter, &actor),
                )),
                automerge::ObjId::Root => None,
            })
            .unwrap_or(automerge::legacy::ObjectId::Root)
    })
    .clone()
}

#[cfg(test)]
mod device_tests {
    use super::*;
    use kith_keys::{AccountKey, DeviceCert, DeviceKey};

    #[test]
    fn devices_and_revocations_round_trip_and_verify() {
        let account = AccountKey::from_seed(&[1; 32]);
        let d1 = DeviceKey::from_seed(&[2; 32]);
        let d2 = DeviceKey::from_seed(&[3; 32]);
        let mut doc = Doc::new(&d1.id());
        add_device(
            &mut doc,
            &DeviceCert::issue(&account, d1.id(), "laptop", 1).unwrap(),
        )
        .unwrap();
        add_device(
            &mut doc,
            &DeviceCert::issue(&account, d2.id(), "phone", 2).unwrap(),
        )
        .unwrap();
        // A certificate from another account is stored but never listed.
        let stranger = AccountKey::from_seed(&[9; 32]);
        add_device(
            &mut doc,
            &DeviceCert::issue(&stranger, DeviceKey::from_seed(&[4; 32]).id(), "x", 3).unwrap(),
        )
        .unwrap();
        let revocation = Revocation::issue(&account, d2.id(), 10, [0, 3, 0, 0, 0, 0]);
        add_revocation(&mut doc, &revocation).unwrap();
        doc.commit();
        let loaded = Doc::load(&doc.save().unwrap(), &d1.id()).unwrap();
        assert_eq!(devices(&loaded, &account.id()).len(), 2);
        let revs = revocations(&loaded, &account.id());
        assert_eq!(revs, vec![revocation.clone()]);
        assert!(revs[0].allows(crate::DocKind::Profile, 3));
        assert!(!revs[0].allows(crate::DocKind::Profile, 4));
        assert!(!revs[0].allows(crate::DocKind::Identity, 1));
        assert_eq!(
            Revocation::from_bytes(&revocation.to_bytes()),
            Some(revocation.clone())
        );
        let mut tampered = revocation.to_bytes();
        tampered[80] ^= 1;
        assert_eq!(
            Revocation::from_bytes(&tampered),
            None,
            "a cut-off cannot be moved"
        );
        // A revocation claimed by another account does not count.
        assert!(revocations(&loaded, &stranger.id()).is_empty());
    }

    /// Finding 3 of the privacy review: any device (without the account
    /// key) could delete a revocation entry and un-revoke a device. Such a
    /// change is now recognised, so every node refuses it.
    #[test]
    fn a_change_that_deletes_or_overwrites_a_revocation_is_recognised() {
        let account = AccountKey::from_seed(&[1; 32]);
        let (d1, d2) = (
            DeviceKey::from_seed(&[2; 32]),
            DeviceKey::from_seed(&[3; 32]),
        );
        let mut doc = Doc::new(&d1.id());
        let revocation = Revocation::issue(&account, d2.id(), 10, [1; 6]);
        add_revocation(&mut doc, &revocation).unwrap();
        let adding = doc.commit().unwrap();
        assert!(!forbidden_revocation_edit(&adding), "adding one is fine");
        assert!(
            add_revocation(&mut doc, &revocation).is_err(),
            "once per device"
        );
        doc.rollback();

        let mut rogue = Doc::load(&doc.save().unwrap(), &d2.id()).unwrap();
        let map = rogue.existing_root_map(REVOCATIONS).unwrap();
        rogue
            .inner_mut()
            .delete(&map, revocation.device.to_string())
            .unwrap();
        let deleting = rogue.commit().unwrap();
        assert!(forbidden_revocation_edit(&deleting));

        let mut rogue = Doc::load(&doc.save().unwrap(), &d2.id()).unwrap();
        let map = rogue.existing_root_map(REVOCATIONS).unwrap();
        rogue
            .inner_mut()
            .put(
                &map,
                revocation.device.to_string(),
                ScalarValue::Bytes(vec![0]),
            )
            .unwrap();
        assert!(forbidden_revocation_edit(&rogue.commit().unwrap()));

        let mut rogue = Doc::load(&doc.save().unwrap(), &d2.id()).unwrap();
        rogue
            .inner_mut()
            .put_object(automerge::ROOT, REVOCATIONS, automerge::ObjType::Map)
            .unwrap();
        assert!(
            forbidden_revocation_edit(&rogue.commit().unwrap()),
            "replacing the map"
        );

        // Editing other parts of the identity document is fine.
        let mut other = Doc::load(&doc.save().unwrap(), &d2.id()).unwrap();
        add_device(
            &mut other,
            &kith_keys::DeviceCert::issue(&account, d2.id(), "phone", 2).unwrap(),
        )
        .unwrap();
        assert!(!forbidden_revocation_edit(&other.commit().unwrap()));
    }
}
