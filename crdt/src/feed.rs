//! Feed documents: posts. Public posts live in `feed`, friends-only posts in
//! `feed-private`, so public replication never carries private posts.
//!
//! ```text
//! ROOT.posts.<post id> = { text: str, at: uint, device: str }
//! ```

use automerge::{ReadDoc as _, ScalarValue, transaction::Transactable as _};
use kith_keys::DeviceId;

use crate::{Doc, DocError};

const POSTS: &str = "posts";

/// Longest post, in bytes of UTF-8.
pub const MAX_POST_LEN: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// 32 hex digits, random: also the idempotency key towards bridges.
    pub id: String,
    pub text: String,
    /// Unix seconds.
    pub at: u64,
    /// The device that wrote it.
    pub device: DeviceId,
}

pub fn add(doc: &mut Doc, post: &Post) -> Result<(), DocError> {
    if post.text.trim().is_empty() {
        return Err(DocError::Limit("a post needs some text".into()));
    }
    if post.text.len() > MAX_POST_LEN {
        return Err(DocError::Limit(format!(
            "a post is at most {MAX_POST_LEN} bytes"
        )));
    }
    let posts = doc.root_map(POSTS)?;
    let d = doc.inner_mut();
    let entry = d.put_object(&posts, post.id.as_str(), automerge::ObjType::Map)?;
    d.put(&entry, "text", post.text.as_str())?;
    d.put(&entry, "at", ScalarValue::Uint(post.at))?;
    d.put(&entry, "device", post.device.to_string())?;
    Ok(())
}

pub fn get(doc: &Doc, id: &str) -> Option<Post> {
    doc.read(|d| get_unguarded(d, id))
}

fn get_unguarded(doc: &Doc, id: &str) -> Option<Post> {
    let posts = doc.existing_root_map(POSTS)?;
    read(doc, &posts, id)
}

/// Every readable post, newest first.
pub fn posts(doc: &Doc) -> Vec<Post> {
    doc.read(posts_unguarded)
}

fn posts_unguarded(doc: &Doc) -> Vec<Post> {
    let Some(posts) = doc.existing_root_map(POSTS) else {
        return Vec::new();
    };
    let mut out: Vec<Post> = doc
        .inner()
        .keys(&posts)
        .filter_map(|k| read(doc, &posts, &k))
        .collect();
    out.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
    out
}

fn read(doc: &Doc, posts: &automerge::ObjId, id: &str) -> Option<Post> {
    let d = doc.inner();
    let (_, entry) = d.get(posts, id).ok()??;
    let field = |name: &str| d.get(&entry, name).ok().flatten().map(|(v, _)| v);
    Some(Post {
        id: id.to_string(),
        text: field("text")?.as_str()?.to_string(),
        at: field("at")?.as_u64()?,
        device: field("device")?.as_str()?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::DeviceKey;

    #[test]
    fn posts_come_back_newest_first() {
        let device = DeviceKey::from_seed(&[1; 32]).id();
        let mut doc = Doc::new(&device);
        for (id, at) in [("a", 10), ("b", 30), ("c", 20)] {
            add(
                &mut doc,
                &Post {
                    id: id.into(),
                    text: format!("post {id}"),
                    at,
                    device,
                },
            )
            .unwrap();
        }
        doc.commit();
        let ids: Vec<String> = posts(&doc).into_iter().map(|p| p.id).collect();
        assert_eq!(ids, ["b", "c", "a"]);
        assert_eq!(get(&doc, "c").unwrap().text, "post c");
        assert!(
            add(
                &mut doc,
                &Post {
                    id: "x".into(),
                    text: " ".into(),
                    at: 1,
                    device
                }
            )
            .is_err()
        );
        assert!(
            add(
                &mut doc,
                &Post {
                    id: "y".into(),
                    text: "x".repeat(MAX_POST_LEN + 1),
                    at: 1,
                    device
                }
            )
            .is_err()
        );
    }
}
