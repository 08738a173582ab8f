//! Address books (`kith_node::contacts::parse`, vCard 3/4 and CSV) on the
//! input as UTF-8 (lossy) text; the result stays within `MAX_CONTACTS`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        let text = kith_fuzz::text(data);
        if let Ok(ids) = kith_node::contacts::parse(&text) {
            assert!(ids.len() <= kith_node::contacts::MAX_CONTACTS);
        }
    });
});
