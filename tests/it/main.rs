//! In-process multi-node tests over real libp2p on loopback.

mod crash;
mod devices;
mod documents;
mod friends;
mod links;
mod peers;
mod posts;
mod privacy;
