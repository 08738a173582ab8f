//! `/kith/pair/1` as the node's CBOR codec reads it: `PairRequest` (proof
//! checked against a fixed secret and transcript, as the issuing device
//! does) and `PairResponse` (the certificate verified, as the joining
//! device does).
#![no_main]

use kith_protocol::pairing::{self, MAX_PAIR_BYTES, PairRequest, PairResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        let f = kith_fuzz::fixture();
        if data.len() as u64 > MAX_PAIR_BYTES {
            return;
        }
        if let Ok(request) = cbor4ii::serde::from_slice::<PairRequest>(data) {
            let transcript = pairing::transcript(&request.account, &f.device_id, &f.peer_device_id);
            let _ = pairing::check_proof(&[0x55; 32], &transcript, &request.proof);
            let _ = pairing::confirmation_code(&[0x55; 32], &transcript);
        }
        if let Ok(PairResponse::Linked { cert, .. }) = cbor4ii::serde::from_slice::<PairResponse>(data) {
            let _ = cert.verify();
        }
    });
});
