//! Size and rate limits every node enforces, in one place so they can be documented and tested.

/// Largest `/kith/hello/1` request or response, in bytes. A hello carries one
/// device certificate (under 250 bytes) and a short agent string.
pub const MAX_HELLO_BYTES: u64 = 4 * 1024;

/// Longest agent string accepted in a hello, in bytes.
pub const MAX_AGENT_LEN: usize = 128;

/// How long a node waits for a peer's hello response before giving up.
pub const HELLO_TIMEOUT_SECS: u64 = 10;
