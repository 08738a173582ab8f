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

/// The bytes an account key signs to claim a platform account.
pub fn link_payload(account: &kith_keys::AccountId, platform: &str, handle: &str) -> Vec<u8> {
    kith_keys::sign::Payload::new()
        .fixed(account.as_bytes())
        .str(&platform.to_lowercase())
        .str(handle)
        .finish()
}

/// The statement a person posts on the platform to prove a link: it names
/// the account and the handle and carries the account key's signature
/// (context `kith/link-proof/v1`), so anyone can check it.
pub fn link_statement(
    account: &kith_keys::AccountId,
    platform: &str,
    handle: &str,
    signature: &kith_keys::Signature,
) -> String {
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.to_bytes());
    format!(
        "kith:{account} is {}:{handle} sig:{sig}",
        platform.to_lowercase()
    )
}

/// Whether `signature` is the account's claim of this platform handle.
pub fn link_signature_valid(
    account: &kith_keys::AccountId,
    platform: &str,
    handle: &str,
    signature: &kith_keys::Signature,
) -> bool {
    account
        .verify(
            kith_keys::sign::Context::LinkProof,
            &link_payload(account, platform, handle),
            signature,
        )
        .is_ok()
}

#[cfg(test)]
mod link_tests {
    use super::*;
    use kith_keys::{AccountKey, sign::Context};

    #[test]
    fn link_statements_name_the_account_and_verify() {
        let key = AccountKey::from_seed(&[1; 32]);
        let sig = key.sign(
            Context::LinkProof,
            &link_payload(&key.id(), "Mastodon", "@ann@example.social"),
        );
        let statement = link_statement(&key.id(), "Mastodon", "@ann@example.social", &sig);
        assert!(statement.starts_with(&format!(
            "kith:{} is mastodon:@ann@example.social sig:",
            key.id()
        )));
        assert!(link_signature_valid(
            &key.id(),
            "mastodon",
            "@ann@example.social",
            &sig
        ));
        assert!(!link_signature_valid(
            &key.id(),
            "mastodon",
            "@eve@example.social",
            &sig
        ));
        let other = AccountKey::from_seed(&[2; 32]).id();
        assert!(!link_signature_valid(
            &other,
            "mastodon",
            "@ann@example.social",
            &sig
        ));
    }
}
