//! Size and rate limits of the handshake and hello protocols every node
//! enforces. Other limits live beside the code they bound (`sync`,
//! `ticket`, `records`, `pairing`, the node's actor and store);
//! `docs/ARCHITECTURE.md` lists every one.

/// Largest `/kith/hello/1` request or response, in bytes. A hello carries one
/// device certificate (under 250 bytes) and a short agent string.
pub const MAX_HELLO_BYTES: u64 = 4 * 1024;

/// Longest agent string accepted in a hello, in bytes.
pub const MAX_AGENT_LEN: usize = 128;

/// How long a node waits for a peer's hello response before giving up.
pub const HELLO_TIMEOUT_SECS: u64 = 10;

/// Largest handshake message body (`/kith/friend/1`), in bytes.
pub const MAX_HANDSHAKE_BYTES: usize = 4 * 1024;

/// Largest `/kith/friend/1` frame (body + certificate + signature + CBOR).
pub const MAX_FRIEND_FRAME_BYTES: u64 = 8 * 1024;

/// A handshake message's timestamp may differ from the receiver's clock by
/// at most this much (clock skew plus delivery delay).
pub const HANDSHAKE_WINDOW_SECS: u64 = 10 * 60;

/// Longest display name carried in a handshake, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Longest friend-request message, in bytes.
pub const MAX_FRIEND_MESSAGE_LEN: usize = 1024;

/// Most incoming friend requests waiting for a decision; more are dropped and counted.
pub const MAX_PENDING_INCOMING: usize = 100;

/// How long an incoming friend request waits for a decision before it is
/// dropped, so requests nobody answers (a Sybil flood) free their room.
pub const PENDING_REQUEST_TTL_SECS: u64 = 7 * 24 * 3600;

/// Handshake messages accepted per sending peer per minute; more are dropped and counted.
pub const MAX_HANDSHAKES_PER_PEER_PER_MINUTE: u32 = 10;

/// New friend requests (ones that wait for a decision) accepted per minute
/// from everyone together: each is written to disk at once, so a swarm of
/// senders, each within its own limit, still cannot keep the disk busy.
/// Requests carrying a valid ticket are not counted.
pub const MAX_NEW_REQUESTS_PER_MINUTE: u32 = 60;

/// Peers tracked by the handshake rate limiter at once.
pub const MAX_RATE_TRACKED_PEERS: usize = 4096;
