//! The Kith node: daemon, local API and CLI, on top of the pure `keys`, `crdt` and `protocol` crates.
//!
//! # Layout
//!
//! - [`home`] — the files in `$KITH_HOME`, creating and loading an identity.
//! - [`config`] — `config.toml`.
//! - [`store`] — everything persistent, in sled; the only module naming sled.
//! - [`net`] — the libp2p behaviour and swarm.
//! - [`node`] — the cloneable [`Node`] handle and its `Command`s.
//! - `actor` — `NodeActor`, the one task owning swarm and store.
//! - [`events`] — what the node reports as it happens.
//! - [`api`] — the local HTTP API (auth, routes, JSON shapes).
//! - [`daemon`] — a whole running daemon (lock, node, API, `daemon.json`).
//! - [`cli`] — the `kith` command line, a client of the API.
//! - [`tap`] — the privacy tap tests attach to nodes.
//!
//! A request travels CLI → HTTP (`api`) → `Node` method → `Command` over a
//! bounded channel → `NodeActor` → swarm/store, and the answer comes back on
//! the command's oneshot reply.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod actor;
pub mod api;
pub mod backup;
pub mod bridges;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod daemon;
pub mod events;
pub mod home;
pub mod logging;
pub mod net;
pub mod node;
pub mod qr;
pub mod recovery;
pub mod refusal;
pub mod store;
pub mod tap;

pub use events::Event;
pub use home::{Home, Identity};
pub use node::{Node, NodeError, NodeOptions, Status};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds on a monotonic clock (since the first call), for budgets.
pub fn now_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}
