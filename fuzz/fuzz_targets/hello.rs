//! `/kith/hello/1` as the node's CBOR codec reads it: `Hello` decoded with
//! `cbor4ii::serde::from_slice`, then `Hello::check` against the fixed
//! device (the connection's peer).
#![no_main]

use kith_protocol::hello::Hello;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        let f = kith_fuzz::fixture();
        if (data.len() as u64) <= kith_protocol::limits::MAX_HELLO_BYTES
            && let Ok(hello) = cbor4ii::serde::from_slice::<Hello>(data)
        {
            let _ = hello.check(&f.device_id);
            let _ = hello.check(&f.peer_device_id);
        }
    });
});
