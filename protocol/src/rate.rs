//! Sans-IO bookkeeping against floods: a replay cache of nonces and a per-key rate limiter.

use std::{collections::HashMap, hash::Hash};

use crate::limits::HANDSHAKE_WINDOW_SECS;

/// Most nonces remembered. Messages older than the time window are refused
/// by their timestamp anyway, so only a window's worth must be kept.
pub const MAX_REPLAY_ENTRIES: usize = 65_536;

/// Nonces seen within the handshake window.
///
/// A handshake message travels only over a Noise channel between a device
/// of its sender and one of its addressee, so only its own signer can
/// replay it, and a signer can as well sign a fresh one; the friendship
/// state machine, not this cache, decides what a message may still do. The
/// cache stops duplicates (a retry that crossed its answer). So when a
/// flood of fresh nonces fills it, it forgets its oldest entries rather
/// than refuse everyone.
#[derive(Debug, Default)]
pub struct ReplayCache {
    seen: HashMap<[u8; 16], u64>,
}

impl ReplayCache {
    /// Record `nonce` (sent at `at`); false if it was already there.
    pub fn insert(&mut self, nonce: [u8; 16], at: u64, now: u64) -> bool {
        if self.seen.contains_key(&nonce) {
            return false;
        }
        if self.seen.len() >= MAX_REPLAY_ENTRIES {
            self.seen
                .retain(|_, t| t.abs_diff(now) <= HANDSHAKE_WINDOW_SECS);
        }
        if self.seen.len() >= MAX_REPLAY_ENTRIES {
            let mut times: Vec<u64> = self.seen.values().copied().collect();
            let cut = times.len() / 8;
            let (_, oldest_kept, _) = times.select_nth_unstable(cut);
            let threshold = *oldest_kept;
            self.seen.retain(|_, t| *t > threshold);
        }
        self.seen.insert(nonce, at);
        true
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
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

    /// Count one event for `key` at `now` and say whether `key` itself is
    /// now over the limit. Unlike [`RateLimiter::allow`], a full table
    /// never counts against a key (for strike counters, where a flood of
    /// other keys must not condemn an innocent one).
    pub fn strike(&mut self, key: &K, now: u64) -> bool {
        let window = now / self.window_secs.max(1);
        if !self.windows.contains_key(key) && self.windows.len() >= self.max_keys {
            self.windows.retain(|_, (w, _)| *w == window);
            if self.windows.len() >= self.max_keys {
                return false;
            }
        }
        let entry = self.windows.entry(key.clone()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 > self.limit
    }
}

/// A token bucket: at most `capacity` tokens, refilled at `per_sec` tokens
/// a second, on a clock the caller supplies (milliseconds).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: u64,
    per_sec: u64,
    tokens: u64,
    at_ms: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(capacity: u64, per_sec: u64, now_ms: u64) -> Self {
        TokenBucket {
            capacity,
            per_sec,
            tokens: capacity,
            at_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.at_ms);
        let earned = elapsed.saturating_mul(self.per_sec) / 1000;
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned);
            if self.tokens >= self.capacity {
                self.tokens = self.capacity;
                self.at_ms = now_ms;
            } else {
                // Keep the fraction of a token already earned.
                self.at_ms += earned.saturating_mul(1000) / self.per_sec.max(1);
            }
        } else if now_ms < self.at_ms {
            // A clock that went back: start counting again from now.
            self.at_ms = now_ms;
        }
    }

    /// Tokens there are now.
    pub fn available(&mut self, now_ms: u64) -> u64 {
        self.refill(now_ms);
        self.tokens
    }

    /// Take `n` tokens if there are that many; otherwise take none.
    pub fn take(&mut self, n: u64, now_ms: u64) -> bool {
        self.refill(now_ms);
        if self.tokens < n {
            return false;
        }
        self.tokens -= n;
        true
    }

    /// Take up to `n` tokens (what was spent, even if more than there was).
    pub fn spend(&mut self, n: u64, now_ms: u64) {
        self.refill(now_ms);
        self.tokens = self.tokens.saturating_sub(n);
    }

    /// Add `n` tokens (earned, not waited for), up to the capacity.
    pub fn credit(&mut self, n: u64) {
        self.tokens = self.tokens.saturating_add(n).min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_buckets_refill_over_time_and_never_past_capacity() {
        let mut bucket = TokenBucket::full(10, 2, 0);
        assert!(bucket.take(10, 0));
        assert!(!bucket.take(1, 0));
        assert!(!bucket.take(2, 999), "under a second earns one token");
        assert!(bucket.take(2, 1000));
        assert_eq!(bucket.available(100_000), 10);
        bucket.spend(25, 100_000);
        assert_eq!(bucket.available(100_000), 0);
        bucket.credit(4);
        assert_eq!(bucket.available(100_000), 4);
        bucket.credit(100);
        assert_eq!(bucket.available(100_000), 10);
        assert_eq!(
            bucket.available(50),
            10,
            "a clock that goes back does not panic"
        );
    }

    #[test]
    fn replay_cache_refuses_repeats() {
        let mut cache = ReplayCache::default();
        assert!(cache.insert([1; 16], 100, 100));
        assert!(!cache.insert([1; 16], 100, 101));
        assert!(cache.insert([2; 16], 100, 101));
    }

    /// A Sybil flood of fresh nonces once refused every message after
    /// 65,536 of them (finding 3): now the oldest are forgotten instead.
    #[test]
    fn a_full_replay_cache_still_takes_new_nonces() {
        let mut cache = ReplayCache::default();
        let now = 1_000;
        for i in 0..MAX_REPLAY_ENTRIES as u64 + 10 {
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&i.to_le_bytes());
            assert!(
                cache.insert(nonce, now + i / 1000, now),
                "nonce {i} refused"
            );
        }
        assert!(cache.len() <= MAX_REPLAY_ENTRIES);
        assert!(cache.insert([0xff; 16], now, now));
        assert!(
            !cache.insert([0xff; 16], now, now),
            "a repeat is still refused"
        );
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
    fn strikes_count_per_key_and_a_full_table_condemns_no_one() {
        let mut strikes = RateLimiter::new(2, 60, 3);
        assert!(!strikes.strike(&"a", 0));
        assert!(!strikes.strike(&"a", 1));
        assert!(
            strikes.strike(&"a", 2),
            "the third strike is over the limit"
        );
        assert!(!strikes.strike(&"b", 2));
        assert!(!strikes.strike(&"c", 2));
        assert!(!strikes.strike(&"d", 2), "a full table is not a strike");
        assert!(!strikes.strike(&"a", 60), "a new window starts clean");
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
