//! `kith_keys::DeviceCert::from_bytes` (and `verify` when it decodes),
//! `kith_crdt::identity::Revocation::from_bytes` (signed revocations as
//! identity documents carry them), and `AccountId` / `DeviceId` `FromStr`
//! on the input as text. Round trips: a certificate or revocation
//! re-encodes to exactly its input; an id prints back to text that parses
//! to the same id.
#![no_main]

use kith_keys::{AccountId, DeviceCert, DeviceId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        if let Ok(cert) = DeviceCert::from_bytes(data) {
            let _ = cert.verify();
            assert_eq!(cert.to_bytes(), data, "certificate round trip");
        }
        if let Some(revocation) = kith_crdt::identity::Revocation::from_bytes(data) {
            assert_eq!(revocation.to_bytes(), data, "revocation round trip");
        }
        let text = kith_fuzz::text(data);
        if let Ok(id) = text.parse::<AccountId>() {
            let _ = id.fmt_short();
            assert_eq!(id.to_string().parse::<AccountId>().ok(), Some(id));
        }
        if let Ok(id) = text.parse::<DeviceId>() {
            let _ = id.fmt_short();
            assert_eq!(id.to_string().parse::<DeviceId>().ok(), Some(id));
        }
        let _ = DeviceId::from_peer_id_bytes(data);
        // Serde forms as they travel inside CBOR and JSON messages.
        let _ = cbor4ii::serde::from_slice::<DeviceCert>(data);
        let _ = serde_json::from_slice::<AccountId>(data);
        let _ = serde_json::from_slice::<DeviceId>(data);
    });
});
