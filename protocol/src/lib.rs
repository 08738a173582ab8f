//! Kith's wire messages and the sans-IO rules that judge them.
//!
//! Every type here is plain data plus pure functions: the node crate moves
//! the bytes (libp2p streams, request-response with a CBOR codec) and asks
//! this crate whether what arrived is acceptable. Limits on sizes are named
//! constants in [`limits`].
//!
//! ```
//! use kith_keys::{AccountKey, DeviceKey, DeviceCert};
//! use kith_protocol::hello::{Hello, HelloError};
//!
//! let account = AccountKey::generate();
//! let device = DeviceKey::generate();
//! let cert = DeviceCert::issue(&account, device.id(), "laptop", 1).unwrap();
//! let hello = Hello::new(cert, "kith/0.1.0");
//!
//! // Accepted from the device the certificate names...
//! assert_eq!(hello.check(&device.id()).unwrap(), account.id());
//! // ...and rejected from any other connection.
//! let other = DeviceKey::generate().id();
//! assert!(matches!(hello.check(&other), Err(HelloError::WrongDevice { .. })));
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod bridge;
pub mod friend;
pub mod friendship;
pub mod hello;
pub mod limits;
pub mod pairing;
pub mod rate;
pub mod records;
pub mod recovery;
pub mod refusal;
pub mod replication;
pub mod sync;
pub mod ticket;

/// A message's bytes as they travel on the wire (CBOR), for checks that
/// look at them (the node's privacy tap in tests).
pub fn wire_bytes<T: serde::Serialize>(message: &T) -> Vec<u8> {
    cbor4ii::serde::to_vec(Vec::new(), message).unwrap_or_default()
}
