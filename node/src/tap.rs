//! The privacy tap: in tests, every application message a node sends to a
//! peer is checked against what that peer may learn (`docs/privacy.md`).
//!
//! A peer that is neither this account, a friend, nor a friend of a friend
//! (a stranger, an ex-friend, a revoked device) must receive no friend's
//! account id (but its own), no blocked account id, and no value of a
//! friends-only field this node holds. The actor checks each message it
//! sends on Kith's point-to-point protocols (hello, friend, sync, pair)
//! while a tap is attached, and the tap collects what leaked; the test
//! harness attaches one to every node and fails a test that leaks.

use std::sync::{Arc, Mutex};

/// What may not reach a given peer, as bytes to look for.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    /// (what it is, its bytes): friend and blocked ids (raw and as text),
    /// friends-only values.
    pub needles: Vec<(String, Vec<u8>)>,
}

impl Secrets {
    /// The first secret `bytes` contain, if any.
    fn found_in(&self, bytes: &[u8]) -> Option<&str> {
        self.needles
            .iter()
            .find(|(_, needle)| !needle.is_empty() && contains(bytes, needle))
            .map(|(what, _)| what.as_str())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Most leaks remembered (the count goes on).
const MAX_LEAKS_KEPT: usize = 64;

#[derive(Debug, Default)]
struct State {
    checked: u64,
    leaks: Vec<String>,
}

/// A cloneable handle on one node's tap.
#[derive(Debug, Clone, Default)]
pub struct Tap {
    state: Arc<Mutex<State>>,
}

impl Tap {
    pub fn new() -> Self {
        Tap::default()
    }

    /// Messages checked so far.
    pub fn checked(&self) -> u64 {
        self.state.lock().map(|s| s.checked).unwrap_or(0)
    }

    /// Every leak seen: what leaked, in which message, to whom.
    pub fn leaks(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.leaks.clone())
            .unwrap_or_default()
    }

    /// Check one message to `peer` (`to_whom` describes it) against `secrets`.
    pub(crate) fn check(&self, to_whom: &str, what: &str, bytes: &[u8], secrets: &Secrets) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.checked += 1;
        if let Some(secret) = secrets.found_in(bytes)
            && state.leaks.len() < MAX_LEAKS_KEPT
        {
            state
                .leaks
                .push(format!("{secret} in a {what} message to {to_whom}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_in_messages() {
        let tap = Tap::new();
        let secrets = Secrets {
            needles: vec![("friend x".into(), b"XYZ".to_vec())],
        };
        tap.check("s", "sync", b"aaXYZaa", &secrets);
        tap.check("s", "sync", b"aaXYaa", &secrets);
        assert_eq!(tap.checked(), 2);
        assert_eq!(tap.leaks(), vec!["friend x in a sync message to s"]);
    }
}
