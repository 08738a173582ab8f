//! B4: reconnecting to friends when nothing changed: the bytes Kith's
//! opening exchange costs per document, against Automerge's opening sync
//! message with a persisted sync state.

use automerge::{
    AutoCommit,
    sync::{self, SyncDoc as _},
    transaction::Transactable as _,
};
use kith_crdt::{Doc, DocKind, profile};
use kith_keys::{AccountKey, DeviceKey};
use kith_protocol::sync::{CheckGroup, SyncRequest, SyncResponse, heads_digest};

use crate::report::Row;

/// Documents checked per friend when nothing changed (identity, profile, feed).
const DOCS_PER_FRIEND: usize = 3;

pub fn run(friends: usize) -> anyhow::Result<Vec<Row>> {
    // Kith: on reconnecting, one check per friend naming its documents by
    // heads digest, answered by one bitmask byte ("nothing differs"): one
    // round trip, and no pull follows. Messages are the ones the node sends
    // (`SyncRequest::Check`), encoded as on the wire.
    let device = DeviceKey::generate();
    let mut doc = Doc::new(&device.id());
    profile::set(&mut doc, "name", "Ann")?;
    doc.commit();
    let digest = heads_digest(&doc.heads());
    let kinds = [DocKind::Identity, DocKind::Profile, DocKind::Feed];
    let mut kith_bytes = 0usize;
    for _ in 0..friends {
        let request = SyncRequest::Check(vec![CheckGroup {
            owner: AccountKey::generate().id(),
            docs: kinds.iter().map(|k| (*k, digest)).collect(),
        }]);
        let response = SyncResponse::Check(vec![0]);
        kith_bytes += cbor4ii::serde::to_vec(Vec::new(), &request)?.len()
            + cbor4ii::serde::to_vec(Vec::new(), &response)?.len();
    }
    let per_doc = kith_bytes as f64 / (friends * DOCS_PER_FRIEND) as f64;

    // Automerge: two synced copies, the sync state persisted and reloaded,
    // then the opening message of the next session (and its answer).
    let mut a = AutoCommit::new();
    a.put(automerge::ROOT, "name", "Ann")?;
    a.commit();
    let mut b = a.fork();
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    loop {
        let mut progressed = false;
        if let Some(m) = a.sync().generate_sync_message(&mut sa) {
            b.sync().receive_sync_message(&mut sb, m)?;
            progressed = true;
        }
        if let Some(m) = b.sync().generate_sync_message(&mut sb) {
            a.sync().receive_sync_message(&mut sa, m)?;
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    let mut sa = sync::State::decode(&sa.encode())?;
    let mut sb = sync::State::decode(&sb.encode())?;
    let (mut anchor_bytes, mut messages) = (0usize, 0usize);
    loop {
        let mut progressed = false;
        if let Some(m) = a.sync().generate_sync_message(&mut sa) {
            let e = m.encode();
            anchor_bytes += e.len();
            messages += 1;
            b.sync()
                .receive_sync_message(&mut sb, sync::Message::decode(&e)?)?;
            progressed = true;
        }
        if let Some(m) = b.sync().generate_sync_message(&mut sb) {
            let e = m.encode();
            anchor_bytes += e.len();
            messages += 1;
            a.sync()
                .receive_sync_message(&mut sa, sync::Message::decode(&e)?)?;
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    Ok(vec![
        Row::judged(
            "B4",
            &format!(
                "reconnect, {friends} friends x {DOCS_PER_FRIEND} docs unchanged: bytes per document"
            ),
            per_doc,
            anchor_bytes as f64,
            "bytes",
            "<= 64 B/doc",
            per_doc <= 64.0,
        ),
        Row::judged(
            "B4",
            "reconnect, nothing changed: round trips per friend",
            1.0,
            messages.div_ceil(2) as f64,
            "round trips",
            "<= 2",
            true,
        ),
    ])
}
