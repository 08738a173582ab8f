//! Single changes from peers: `kith_crdt::guard::check_change`,
//! `guard::change_header`, `kith_crdt::ParsedChange::parse` (and applying
//! a parsed change to a fresh document, as the node does after
//! verification), and `kith_protocol::sync::verify_batch` on a CBOR-decoded
//! `ChangeBatch`.
//!
//! Each input is tried as raw change bytes (as is, and with a repaired
//! chunk checksum) and as a CBOR `ChangeBatch`. Raw change bytes are also
//! wrapped in a batch signed by the owner's fixed device, so `verify_batch`
//! gets past the signature to `ParsedChange::parse` when the change's
//! actor is that device (as in the seeds).
#![no_main]

use kith_crdt::{Doc, DocKind, ParsedChange, guard};
use kith_keys::sign::Context;
use kith_protocol::sync::{ChangeBatch, Cutoffs, change_payload, verify_batch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        let f = kith_fuzz::fixture();
        for bytes in kith_fuzz::with_fixed_checksum(data) {
            let bytes: &[u8] = &bytes;
            let header = guard::change_header(bytes);
            let checked = guard::check_change(bytes);
            if let Ok(checked) = &checked {
                assert_eq!(header.as_ref().ok(), Some(checked), "headers agree");
            }
            if let Ok(change) = ParsedChange::parse(bytes.to_vec()) {
                let mut doc = Doc::new(&f.device_id);
                let _ = doc.apply(vec![change]);
            }
            if let Ok(header) = header {
                let kind = DocKind::Profile;
                let signature = f.device.sign(
                    Context::DocumentChange,
                    &change_payload(&f.owner_id, kind, &header.hash),
                );
                let mut batch = ChangeBatch::default();
                batch.push(bytes.to_vec(), signature, &f.cert);
                let (good, _bad) = verify_batch(&f.owner_id, kind, batch, &Cutoffs::default());
                if !good.is_empty() {
                    let mut doc = Doc::new(&f.device_id);
                    let _ = doc.apply(good.into_iter().map(|v| v.change).collect());
                }
            }
        }
        if let Ok(batch) = cbor4ii::serde::from_slice::<ChangeBatch>(data) {
            let _ = batch.size();
            let _ = verify_batch(&f.owner_id, DocKind::Profile, batch, &Cutoffs::default());
        }
    });
});
