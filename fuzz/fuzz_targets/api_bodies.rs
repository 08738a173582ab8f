//! Local API request bodies and queries, as the daemon reads them before
//! any handler logic: `serde_json::from_slice` into every public request
//! type of `kith_node::api`, and `serde_urlencoded` (what axum's `Query`
//! uses) into the public query types. The handlers' own checks after
//! parsing (ticket, account, multiaddr) are private; tickets and ids are
//! covered by the `ticket` and `cert` targets.
#![no_main]

use kith_node::api::{
    AccountQuery, AccountRequest, AddRequest, BridgeAddRequest, BridgeNameRequest, ConnectRequest,
    FieldRequest, ImportRequest, InviteRequest, LinkDeviceRequest, LinkRequest, PostRequest,
    RevokeRequest, SetFieldRequest, StatementQuery,
};
use libfuzzer_sys::fuzz_target;

fn json<T: serde::de::DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        if data.len() > kith_node::api::MAX_BODY_BYTES {
            return;
        }
        json::<ConnectRequest>(data);
        json::<LinkDeviceRequest>(data);
        json::<RevokeRequest>(data);
        json::<InviteRequest>(data);
        json::<AddRequest>(data);
        json::<AccountRequest>(data);
        json::<ImportRequest>(data);
        json::<SetFieldRequest>(data);
        json::<FieldRequest>(data);
        json::<LinkRequest>(data);
        json::<PostRequest>(data);
        json::<BridgeAddRequest>(data);
        json::<BridgeNameRequest>(data);
        let _ = serde_urlencoded::from_bytes::<AccountQuery>(data);
        let _ = serde_urlencoded::from_bytes::<StatementQuery>(data);
    });
});
