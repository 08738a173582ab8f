//! `/kith/friend/1`: `kith_protocol::friend::Signed::from_bytes` and, when
//! it decodes, `open` (as the fixed owner, at the fixed time, with a fresh
//! `ReplayCache`) and `verify`; the `Reply` the other side answers with.
//!
//! A mutated envelope almost never carries a valid signature, so the input
//! is also used as a message *body*: the harness signs it with the fixed
//! peer device (whose certificate verifies) and opens that, which reaches
//! the body decoding and every check after the signature.
#![no_main]

use kith_keys::sign::Context;
use kith_protocol::{
    friend::{Body, Reply, Signed},
    rate::ReplayCache,
};
use libfuzzer_sys::fuzz_target;

fn open(signed: &Signed) {
    let f = kith_fuzz::fixture();
    let _ = signed.hash();
    let _ = signed.verify();
    let mut replay = ReplayCache::default();
    if let Ok(opened) = signed.open(&f.owner_id, kith_fuzz::NOW, &mut replay) {
        // A second delivery of the same message is a replay.
        assert!(signed.open(&f.owner_id, kith_fuzz::NOW, &mut replay).is_err());
        let _ = opened;
    }
}

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        let f = kith_fuzz::fixture();
        if let Ok(signed) = Signed::from_bytes(data) {
            open(&signed);
        }
        if let Ok(reply) = cbor4ii::serde::from_slice::<Reply>(data) {
            if let Reply::Accepted { accept } = reply {
                open(&accept);
            }
        }
        let _ = cbor4ii::serde::from_slice::<Body>(data);
        if data.len() <= kith_protocol::limits::MAX_HANDSHAKE_BYTES {
            let signed = Signed {
                body: data.to_vec(),
                cert: f.peer_cert.clone(),
                signature: f.peer_device.sign(Context::FriendHandshake, data),
            };
            open(&signed);
        }
    });
});
