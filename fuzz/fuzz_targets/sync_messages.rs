//! `/kith/sync/1` as the node's CBOR codec reads it (`cbor4ii::serde::from_slice`):
//! `SyncRequest`, `SyncResponse` and `CheckGroup::from_bytes`, then what
//! the node does with a decoded pull response: `verify_batch` on every
//! change batch and `open_document` on every whole document (no device
//! revoked). Round trip: a check group re-encodes to exactly its input.
#![no_main]

use kith_protocol::sync::{
    CheckGroup, Cutoffs, PullOutcome, SyncRequest, SyncResponse, heads_digest, open_document,
    verify_batch,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        let f = kith_fuzz::fixture();
        if let Some(group) = CheckGroup::from_bytes(data) {
            assert_eq!(group.to_bytes(), data, "check group round trip");
        }
        if let Ok(request) = cbor4ii::serde::from_slice::<SyncRequest>(data) {
            let _ = request.wire_len();
            if let SyncRequest::Pull(items) = &request {
                for item in items {
                    let _ = heads_digest(&item.heads);
                }
            }
        }
        if let Ok(SyncResponse::Pull(results)) = cbor4ii::serde::from_slice::<SyncResponse>(data) {
            for result in results {
                match result.outcome {
                    PullOutcome::Changes { batch, .. } => {
                        let _ = verify_batch(&result.owner, result.doc, batch, &Cutoffs::default());
                    }
                    PullOutcome::Document { doc, signed } => {
                        let _ = open_document(
                            &result.owner,
                            result.doc,
                            &doc,
                            &signed,
                            &Cutoffs::default(),
                            &f.device_id,
                        );
                    }
                    PullOutcome::Denied | PullOutcome::Unknown => {}
                }
            }
        }
    });
});
