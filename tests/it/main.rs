//! In-process multi-node tests over real libp2p on loopback.

mod devices;
mod documents;
mod friends;
mod peers;
