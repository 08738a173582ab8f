//! B7: cold start to ready with N stored changes, against Automerge's
//! `load()` of the same document.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use automerge::{AutoCommit, transaction::Transactable as _};
use kith_node::node::Visibility;
use kith_tests::TestNode;

use crate::report::Row;

pub async fn run(changes: usize) -> anyhow::Result<Vec<Row>> {
    let node = TestNode::spawn().await?;
    for i in 0..changes {
        node.node
            .set_field("bio".into(), format!("bio-{i}"), Visibility::Public)
            .await?;
    }
    // Stop, then start on the same store: timed from the start until the
    // node listens (documents loaded, libp2p up).
    let started = Arc::new(Mutex::new(Instant::now()));
    let mark = started.clone();
    let ready = node
        .restart_stopped(|| async move {
            *mark.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        })
        .await?;
    let kith_ms = started
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .elapsed()
        .as_secs_f64()
        * 1e3;
    let view = ready.node.profile(None).await?;
    let last = format!("bio-{}", changes - 1);
    anyhow::ensure!(
        view.fields.get("bio").map(|f| f.0.as_str()) == Some(last.as_str()),
        "restart lost edits"
    );
    ready.stop().await;

    let mut doc = AutoCommit::new();
    let fields = doc.put_object(automerge::ROOT, "fields", automerge::ObjType::Map)?;
    for i in 0..changes {
        doc.put(&fields, "bio", format!("bio-{i}"))?;
        doc.commit();
    }
    let saved = doc.save();
    let start = Instant::now();
    let loaded = AutoCommit::load(&saved)?;
    let anchor_ms = start.elapsed().as_secs_f64() * 1e3;
    drop(loaded);
    let bound = 1.2 * anchor_ms + 50.0;
    Ok(vec![Row::judged(
        "B7",
        &format!("cold start to ready, {changes} stored changes (libp2p included)"),
        kith_ms,
        anchor_ms,
        "ms",
        "<= 1.2x+50ms",
        kith_ms <= bound,
    )])
}
