//! B3: catch-up after missed changes: a Kith node pulls a friend-visible
//! profile with N changes over real libp2p on loopback, against plain
//! Automerge sync of the same document in memory.

use std::time::{Duration, Instant};

use automerge::{
    AutoCommit, ReadDoc as _,
    sync::{self, SyncDoc as _},
    transaction::Transactable as _,
};
use kith_crdt::{Doc, DocKind, profile};
use kith_keys::{AccountKey, DeviceCert, DeviceKey, sign::Context};
use kith_node::node::Visibility;
use kith_protocol::sync::{
    ChangeBatch, ChangeSignatures, DOCUMENT_AFTER_CHANGES, PullOutcome, PullResult, SyncResponse,
    change_payload,
};
use kith_tests::TestNode;

use crate::report::Row;

pub async fn run(changes: usize) -> anyhow::Result<Vec<Row>> {
    let (kith_secs, round_trips) = kith_wall(changes).await?;
    let kith_bytes = kith_bytes(changes)?;
    let (anchor_secs, anchor_bytes, anchor_trips) = automerge_sync(changes)?;
    Ok(vec![
        Row::new(
            "B3",
            &format!("catch-up of {changes} missed changes: wall"),
            kith_secs * 1e3,
            anchor_secs * 1e3,
            "ms",
            1.5,
            false,
        ),
        Row::new(
            "B3",
            &format!("catch-up of {changes} missed changes: bytes"),
            kith_bytes as f64,
            anchor_bytes as f64,
            "bytes",
            1.2,
            false,
        ),
        Row::new(
            "B3",
            &format!("catch-up of {changes} missed changes: round trips"),
            round_trips as f64,
            anchor_trips as f64,
            "round trips",
            1.0,
            false,
        ),
    ])
}

/// Two real nodes: A makes `changes` edits while B is away; B connects and
/// pulls. Timed from B's connect to B holding A's last value.
async fn kith_wall(changes: usize) -> anyhow::Result<(f64, usize)> {
    let a = TestNode::spawn().await?;
    for i in 1..=changes {
        a.node
            .set_field("bio".into(), format!("bio-{i}"), Visibility::Public)
            .await?;
    }
    let b = TestNode::spawn().await?;
    let last = format!("bio-{changes}");
    let start = Instant::now();
    b.node.connect(a.addr.clone()).await?;
    let deadline = start + Duration::from_secs(120);
    loop {
        let view = b.node.profile(Some(a.node.account())).await;
        if view.is_ok_and(|v| v.fields.get("bio").is_some_and(|(value, _)| *value == last)) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "catch-up did not finish");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    a.stop().await;
    b.stop().await;
    // One check, then one pull that answers everything while it fits the
    // response budget (8 MiB).
    Ok((secs, 2))
}

/// The exact bytes of the pull response a fresh requester gets: every
/// change with its signature and the author's certificate once, or, from
/// `DOCUMENT_AFTER_CHANGES` missing changes on (as the node serves it), the
/// whole compressed document with its head's signature.
fn kith_bytes(changes: usize) -> anyhow::Result<usize> {
    let account = AccountKey::generate();
    let device = DeviceKey::generate();
    let cert = DeviceCert::issue(&account, device.id(), "bench", 1)?;
    let mut doc = Doc::new(&device.id());
    let mut batch = ChangeBatch::default();
    let mut signed = ChangeSignatures::default();
    for i in 1..=changes {
        profile::set(&mut doc, "bio", &format!("bio-{i}"))?;
        let change = doc.commit().ok_or_else(|| anyhow::anyhow!("no change"))?;
        let signature = device.sign(
            Context::DocumentChange,
            &change_payload(&account.id(), DocKind::Profile, &change.hash),
        );
        if i == changes {
            signed.push(change.hash, signature, &cert);
        }
        batch.push(change.bytes, signature, &cert);
    }
    let outcome = if changes >= DOCUMENT_AFTER_CHANGES {
        PullOutcome::Document {
            doc: doc.snapshot()?,
            signed,
        }
    } else {
        PullOutcome::Changes {
            heads: doc.heads(),
            batch,
            more: false,
        }
    };
    let response = SyncResponse::Pull(vec![PullResult {
        owner: account.id(),
        doc: DocKind::Profile,
        outcome,
    }]);
    Ok(cbor4ii::serde::to_vec(Vec::new(), &response)?.len())
}

/// Plain Automerge: the same edits, synced between two documents in memory
/// with its own sync protocol, bytes and round trips counted.
fn automerge_sync(changes: usize) -> anyhow::Result<(f64, usize, usize)> {
    let mut a = AutoCommit::new();
    let fields = a.put_object(automerge::ROOT, "fields", automerge::ObjType::Map)?;
    a.commit();
    for i in 1..=changes {
        a.put(&fields, "bio", format!("bio-{i}"))?;
        a.commit();
    }
    let mut b = AutoCommit::new();
    let (mut state_a, mut state_b) = (sync::State::new(), sync::State::new());
    let start = Instant::now();
    let (mut bytes, mut messages) = (0usize, 0usize);
    loop {
        let mut progressed = false;
        if let Some(msg) = a.sync().generate_sync_message(&mut state_a) {
            let encoded = msg.encode();
            bytes += encoded.len();
            messages += 1;
            b.sync()
                .receive_sync_message(&mut state_b, sync::Message::decode(&encoded)?)?;
            progressed = true;
        }
        if let Some(msg) = b.sync().generate_sync_message(&mut state_b) {
            let encoded = msg.encode();
            bytes += encoded.len();
            messages += 1;
            a.sync()
                .receive_sync_message(&mut state_a, sync::Message::decode(&encoded)?)?;
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let fields_b = b
        .get(automerge::ROOT, "fields")?
        .map(|(_, id)| id)
        .ok_or_else(|| anyhow::anyhow!("no fields"))?;
    let last = b
        .get(&fields_b, "bio")?
        .and_then(|(v, _)| v.into_string().ok());
    anyhow::ensure!(
        last == Some(format!("bio-{changes}")),
        "plain sync did not converge"
    );
    // Messages travel both ways; a round trip is one message each way.
    Ok((secs, bytes, messages.div_ceil(2)))
}
