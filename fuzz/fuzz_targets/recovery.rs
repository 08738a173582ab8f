//! `/kith/recovery/1` as the node's CBOR codec reads it: requests (a grant
//! verified and fed to a collector, a withdrawal verified, an ask put in a
//! holder's book and approved with a code) and replies, and a held share
//! as stored (`Grant::from_bytes`).
#![no_main]

use kith_protocol::recovery::{
    AskBook, Collector, Grant, MAX_RECOVERY_FRAME_BYTES, Reply, Request,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        let f = kith_fuzz::fixture();
        if data.len() as u64 > MAX_RECOVERY_FRAME_BYTES {
            return;
        }
        let _ = Grant::from_bytes(data);
        match cbor4ii::serde::from_slice::<Request>(data) {
            Ok(Request::Hold { grant }) => {
                let mut collector = Collector::new(grant.account);
                let _ = collector.add(grant);
            }
            Ok(Request::Withdraw { withdrawal }) => {
                let _ = withdrawal.verify();
            }
            Ok(Request::Ask { account }) => {
                let mut book = AskBook::default();
                let _ = book.ask(account, f.peer_device_id, kith_fuzz::NOW);
                let _ = book.approve(&account, "123-456-789-012", kith_fuzz::NOW);
            }
            Err(_) => {}
        }
        if let Ok(Reply::Share { grant }) = cbor4ii::serde::from_slice::<Reply>(data) {
            let mut collector = Collector::new(f.owner_id);
            let _ = collector.add(grant);
        }
    });
});
