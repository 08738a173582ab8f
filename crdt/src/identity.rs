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

/// Most change hashes a revocation keeps of the revoked device.
pub const MAX_REVOCATION_HASHES: usize = 4096;

/// "Account `account` revokes `device` at `at`; of its changes, only those
/// in `allowed` (the ones the revoking device had seen) stay valid."
/// Signed by the account key in context `kith/device-revocation/v1` over
/// `account || device || at || sha256(allowed)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub account: kith_keys::AccountId,
    pub device: kith_keys::DeviceId,
    pub at: u64,
    pub allowed: Vec<crate::Hash>,
    pub signature: kith_keys::Signature,
}

impl Revocation {
    fn payload(
        account: &kith_keys::AccountId,
        device: &kith_keys::DeviceId,
        at: u64,
        allowed: &[crate::Hash],
    ) -> Vec<u8> {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for hash in allowed {
            h.update(hash);
        }
        let digest: [u8; 32] = h.finalize().into();
        kith_keys::sign::Payload::new()
            .fixed(account.as_bytes())
            .fixed(device.as_bytes())
            .u64(at)
            .fixed(&digest)
            .finish()
    }

    pub fn issue(
        account: &kith_keys::AccountKey,
        device: kith_keys::DeviceId,
        at: u64,
        mut allowed: Vec<crate::Hash>,
    ) -> Self {
        allowed.truncate(MAX_REVOCATION_HASHES);
        let payload = Self::payload(&account.id(), &device, at, &allowed);
        let signature = account.sign(kith_keys::sign::Context::DeviceRevocation, &payload);
        Revocation {
            account: account.id(),
            device,
            at,
            allowed,
            signature,
        }
    }

    pub fn verify(&self) -> Result<(), kith_keys::VerifyError> {
        let payload = Self::payload(&self.account, &self.device, self.at, &self.allowed);
        self.account.verify(
            kith_keys::sign::Context::DeviceRevocation,
            &payload,
            &self.signature,
        )
    }

    /// Whether a change of the revoked device stays valid.
    pub fn allows(&self, hash: &crate::Hash) -> bool {
        self.allowed.contains(hash)
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
    doc.read(|d| devices_unguarded(d, owner))
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

pub fn add_revocation(doc: &mut Doc, revocation: &Revocation) -> Result<(), DocError> {
    let revocations = doc.root_map(REVOCATIONS)?;
    let d = doc.inner_mut();
    let entry = d.put_object(
        &revocations,
        revocation.device.to_string(),
        automerge::ObjType::Map,
    )?;
    d.put(&entry, "at", ScalarValue::Uint(revocation.at))?;
    d.put(
        &entry,
        "allowed",
        ScalarValue::Bytes(revocation.allowed.concat()),
    )?;
    d.put(
        &entry,
        "signature",
        ScalarValue::Bytes(revocation.signature.to_bytes().to_vec()),
    )?;
    Ok(())
}

/// Revocations in the document signed by `owner`'s account key (others are ignored).
pub fn revocations(doc: &Doc, owner: &kith_keys::AccountId) -> Vec<Revocation> {
    doc.read(|d| revocations_unguarded(d, owner))
}

fn revocations_unguarded(doc: &Doc, owner: &kith_keys::AccountId) -> Vec<Revocation> {
    let Some(revocations) = doc.existing_root_map(REVOCATIONS) else {
        return Vec::new();
    };
    let d = doc.inner();
    d.keys(&revocations)
        .filter_map(|k| {
            let device: kith_keys::DeviceId = k.parse().ok()?;
            let (_, entry) = d.get(&revocations, k.as_str()).ok()??;
            let field = |name: &str| d.get(&entry, name).ok().flatten().map(|(v, _)| v);
            let allowed = field("allowed")?
                .as_bytes()?
                .chunks_exact(32)
                .filter_map(|c| c.try_into().ok())
                .collect();
            let signature: [u8; 64] = field("signature")?.as_bytes()?.try_into().ok()?;
            let revocation = Revocation {
                account: *owner,
                device,
                at: field("at")?.as_u64()?,
                allowed,
                signature: kith_keys::Signature::from_bytes(&signature),
            };
            revocation.verify().is_ok().then_some(revocation)
        })
        .collect()
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
        let revocation = Revocation::issue(&account, d2.id(), 10, vec![[7; 32]]);
        add_revocation(&mut doc, &revocation).unwrap();
        doc.commit();
        let loaded = Doc::load(&doc.save().unwrap(), &d1.id()).unwrap();
        assert_eq!(devices(&loaded, &account.id()).len(), 2);
        let revs = revocations(&loaded, &account.id());
        assert_eq!(revs, vec![revocation]);
        assert!(revs[0].allows(&[7; 32]) && !revs[0].allows(&[8; 32]));
        // A revocation claimed by another account does not count.
        assert!(revocations(&loaded, &stranger.id()).is_empty());
    }
}
