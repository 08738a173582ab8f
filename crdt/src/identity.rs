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
        };
        add_link(&mut doc, &link).unwrap();
        doc.commit();
        assert_eq!(links(&doc)[0].platform, "mastodon");
        assert!(remove_link(&mut doc, "mastodon", "@ada@example.social").unwrap());
        assert!(links(&doc).is_empty());
    }
}
