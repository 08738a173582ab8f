//! B5: signed-change verification in the apply path against raw ed25519 verification.

use std::time::Instant;

use ed25519_dalek::Verifier as _;
use kith_crdt::{Doc, DocKind, profile};
use kith_keys::{AccountKey, DeviceCert, DeviceKey, sign::Context};
use kith_protocol::sync::{ChangeBatch, change_payload, verify_batch};

use crate::report::Row;

pub fn run(changes: usize) -> anyhow::Result<Vec<Row>> {
    let account = AccountKey::generate();
    let device = DeviceKey::generate();
    let cert = DeviceCert::issue(&account, device.id(), "bench", 1)?;
    let mut doc = Doc::new(&device.id());
    let mut batch = ChangeBatch::default();
    let mut raw = Vec::with_capacity(changes);
    for i in 0..changes {
        profile::set(&mut doc, "bio", &format!("bio-{i}"))?;
        let change = doc.commit().ok_or_else(|| anyhow::anyhow!("no change"))?;
        let payload = change_payload(&account.id(), DocKind::Profile, &change.hash);
        let signature = device.sign(Context::DocumentChange, &payload);
        raw.push((
            kith_keys::sign::signed_bytes(Context::DocumentChange, &payload),
            signature,
        ));
        batch.push(change.bytes, signature, &cert);
    }

    // Anchor: the bare signature checks, nothing else.
    let key = ed25519_dalek::VerifyingKey::from_bytes(device.id().as_bytes())?;
    let start = Instant::now();
    for (message, signature) in &raw {
        key.verify(message, signature)?;
    }
    let raw_secs = start.elapsed().as_secs_f64();

    // Kith: everything done before a change may be applied (parse, checksum,
    // actor = signer, certificate, signature).
    let start = Instant::now();
    let (good, bad) = verify_batch(
        &account.id(),
        DocKind::Profile,
        batch,
        &kith_protocol::sync::Cutoffs::default(),
    );
    let kith_secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        good.len() == changes && bad.is_empty(),
        "verification failed in the benchmark"
    );

    let per_sec = |secs: f64| changes as f64 / secs;
    Ok(vec![Row::new(
        "B5",
        &format!("signed-change verification, {changes} changes"),
        per_sec(kith_secs),
        per_sec(raw_secs),
        "changes/s",
        0.7,
        true,
    )])
}
