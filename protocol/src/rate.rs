//! Sans-IO bookkeeping against floods: a replay cache of nonces and a per-key rate limiter.

use std::{collections::HashMap, hash::Hash};

use crate::limits::HANDSHAKE_WINDOW_SECS;

/// Most nonces remembered. Messages older than the time window are refused
/// by their timestamp anyway, so only a window's worth must be kept.
pub const MAX_REPLAY_ENTRIES: usize = 65_536;

/// Nonces seen within the handshake window.
#[derive(Debug, Default)]
pub struct ReplayCache {
    seen: HashMap<[u8; 16], u64>,
}

impl ReplayCache {
    /// Record `nonce` (sent at `at`); false if it was already there.
    pub fn insert(&mut self, nonce: [u8; 16], at: u64, now: u64) -> bool {
        if self.seen.len() >= MAX_REPLAY_ENTRIES {
            self.seen
                .retain(|_, t| t.abs_diff(now) <= HANDSHAKE_WINDOW_SECS);
        }
        if self.seen.len() >= MAX_REPLAY_ENTRIES || self.seen.contains_key(&nonce) {
            // Full of fresh nonces: refusing is safer than forgetting one.
            return false;
        }
        self.seen.insert(nonce, at);
        true
    }
}

/// A fixed-window counter per key: at most `limit` events per `window_secs`.
/// Tracks at most `max_keys` keys; when full, the stalest window is dropped.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: u32,
    window_secs: u64,
    max_keys: usize,
    windows: HashMap<K, (u64, u32)>,
    /// Events refused so far (reported, never shown as content).
    pub dropped: u64,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(limit: u32, window_secs: u64, max_keys: usize) -> Self {
        RateLimiter {
            limit,
            window_secs,
            max_keys,
            windows: HashMap::new(),
            dropped: 0,
        }
    }

    /// Count one event for `key` at `now`; false (and counted as dropped) if over the limit.
    pub fn allow(&mut self, key: &K, now: u64) -> bool {
        let window = now / self.window_secs.max(1);
        if !self.windows.contains_key(key) && self.windows.len() >= self.max_keys {
            self.windows.retain(|_, (w, _)| *w == window);
            if self.windows.len() >= self.max_keys {
                self.dropped += 1;
                return false;
            }
        }
        let entry = self.windows.entry(key.clone()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.limit {
            self.dropped += 1;
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_cache_refuses_repeats() {
        let mut cache = ReplayCache::default();
        assert!(cache.insert([1; 16], 100, 100));
        assert!(!cache.insert([1; 16], 100, 101));
        assert!(cache.insert([2; 16], 100, 101));
    }

    #[test]
    fn rate_limiter_resets_per_window_and_counts_drops() {
        let mut limiter = RateLimiter::new(2, 60, 10);
        assert!(limiter.allow(&"a", 0));
        assert!(limiter.allow(&"a", 1));
        assert!(!limiter.allow(&"a", 2));
        assert!(limiter.allow(&"b", 2));
        assert_eq!(limiter.dropped, 1);
        assert!(limiter.allow(&"a", 60));
    }

    #[test]
    fn rate_limiter_is_bounded_in_keys() {
        let mut limiter = RateLimiter::new(1, 60, 3);
        for k in 0..3 {
            assert!(limiter.allow(&k, 0));
        }
        assert!(
            !limiter.allow(&99, 0),
            "a fourth key in a full window is refused"
        );
        assert!(limiter.allow(&99, 60), "a new window frees room");
        assert!(limiter.windows.len() <= 3);
    }
}
