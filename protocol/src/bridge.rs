//! The bridge plugin protocol: newline-delimited JSON-RPC 2.0 over a
//! plugin's stdin (requests from the daemon) and stdout (responses), so a
//! bridge can be written in any language. See docs/bridges.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Longest line either side may write, in bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Error codes: JSON-RPC's own, and two of Kith's that say whether trying
/// again later may help.
pub const INVALID_PARAMS: i64 = -32602;
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The platform failed in a way that may pass (down, rate limited, timeout).
pub const TRANSIENT: i64 = 1000;
/// The platform refused for good (too long, bad credentials, forbidden).
pub const PERMANENT: i64 = 1001;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub jsonrpc: String,
    pub id: u64,
    pub method: String,
    #[serde(default)]
    pub params: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub jsonrpc: String,
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    /// Whether the call may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        self.code == TRANSIENT
    }
}

impl Request {
    pub fn new(id: u64, method: &str, params: serde_json::Value) -> Self {
        Request {
            jsonrpc: "2.0".into(),
            id,
            method: method.into(),
            params,
        }
    }
}

impl Response {
    pub fn ok(id: u64, result: serde_json::Value) -> Self {
        Response {
            jsonrpc: "2.0".into(),
            id,
            result: Some(result),
            error: None,
        }
    }

    pub fn err(id: u64, code: i64, message: impl Into<String>) -> Self {
        Response {
            jsonrpc: "2.0".into(),
            id,
            result: None,
            error: Some(RpcError {
                code,
                message: message.into(),
            }),
        }
    }
}

/// `describe` → what the bridge is and can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    pub name: String,
    pub version: String,
    /// Any of `publish`, `profile`, `verify_link`.
    pub capabilities: Vec<String>,
}

/// `configure` params: the settings from `kith bridge add --set`, and a
/// directory the bridge may keep state in (it is private to the bridge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configure {
    pub settings: BTreeMap<String, String>,
    pub state_dir: String,
}

/// `publish` params. `post` is the idempotency key: publishing the same
/// post twice must not post twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub post: String,
    pub text: String,
    /// Unix seconds.
    pub at: u64,
    pub account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub remote_id: String,
    pub url: Option<String>,
}

/// `update_profile` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateProfile {
    pub display_name: Option<String>,
    pub bio: Option<String>,
}

/// `verify_link` params: does `proof` (a URL on the platform) hold
/// `statement`, posted by `handle`?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyLink {
    pub handle: String,
    pub proof: String,
    pub statement: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub verified: bool,
    pub reason: Option<String>,
}
