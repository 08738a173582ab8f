//! The bridge plugin protocol (`kith_protocol::bridge`): one JSON-RPC line
//! as the daemon reads a plugin's answer (`serde_json::from_slice` into
//! `Response`, then its `result` into `Description`, `Published` or
//! `Verified`), and as a plugin reads the daemon's request (`Request`, its
//! `params` into `Configure`, `Publish`, `UpdateProfile`, `VerifyLink`).
//! There is no dedicated parse function to call: the daemon's own reader
//! (node/src/bridges/host.rs) is private and does exactly this.
#![no_main]

use kith_protocol::bridge::{
    Configure, Description, MAX_LINE_BYTES, Publish, Published, Request, Response, UpdateProfile,
    Verified, VerifyLink,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        if data.len() > MAX_LINE_BYTES {
            return;
        }
        if let Ok(response) = serde_json::from_slice::<Response>(data) {
            if let Some(error) = &response.error {
                let _ = error.is_transient();
            }
            if let Some(result) = response.result {
                let _ = serde_json::from_value::<Description>(result.clone());
                let _ = serde_json::from_value::<Published>(result.clone());
                let _ = serde_json::from_value::<Verified>(result);
            }
        }
        if let Ok(request) = serde_json::from_str::<Request>(kith_fuzz::text(data).trim()) {
            let p = request.params;
            let _ = serde_json::from_value::<Configure>(p.clone());
            let _ = serde_json::from_value::<Publish>(p.clone());
            let _ = serde_json::from_value::<UpdateProfile>(p.clone());
            let _ = serde_json::from_value::<VerifyLink>(p);
        }
    });
});
