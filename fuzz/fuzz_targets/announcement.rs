//! Gossip announcements: `kith_protocol::sync::Announcement::open` on the
//! wire bytes. A mutated announcement rarely keeps a valid signature, so
//! the input is also decoded as an announcement body: if it decodes, the
//! harness names the fixed device as announcer, seals it with that device's
//! key and opens the result (reaching the checks after the signature), then
//! runs `verify_batch` on its inline changes as a follower would.
#![no_main]

use kith_keys::sign::Context;
use kith_protocol::sync::{Announcement, Cutoffs, verify_batch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        let f = kith_fuzz::fixture();
        if let Ok(a) = Announcement::open(data) {
            let _ = a.announcer();
        }
        if data.len() <= kith_protocol::sync::MAX_ANNOUNCEMENT_BYTES
            && let Ok(mut a) = cbor4ii::serde::from_slice::<Announcement>(data)
        {
            a.by = *f.device_id.as_bytes();
            let wire = a.seal(|body| f.device.sign(Context::Announcement, body));
            if let Ok(opened) = Announcement::open(&wire) {
                if let Some(batch) = opened.changes {
                    let _ = verify_batch(&opened.owner, opened.doc, batch, &Cutoffs::default());
                }
            }
        }
    });
});
