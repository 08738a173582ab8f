//! Browser sessions for the web page: one-time login codes from `kith open`,
//! the sessions they start, and each session's CSRF token.
//!
//! Everything is in memory (a daemon restart logs the page out) and bounded.
//! Secrets are 256-bit random hex strings, found by comparing each one held
//! in constant time (the sets are small), so timing tells an attacker
//! nothing about how close a guess was.

use std::time::{Duration, Instant};

use super::auth::constant_time_eq;

/// How long a login link from `kith open` stays valid.
pub const LOGIN_CODE_TTL: Duration = Duration::from_secs(120);
/// Login links open at once; the oldest is dropped beyond this.
pub const MAX_LOGIN_CODES: usize = 8;
/// Sessions at once (browsers, tabs logged in separately); the least
/// recently used is dropped beyond this.
pub const MAX_SESSIONS: usize = 16;
/// A session unused for this long ends.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 60 * 60);

/// A logged-in browser.
#[derive(Debug, Clone)]
struct Session {
    id: String,
    csrf: String,
    last_used: Instant,
}

/// Open login codes and live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    codes: Vec<(String, Instant)>,
    sessions: Vec<Session>,
}

/// A new random secret: 32 bytes as 64 hex digits.
pub fn secret() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Sessions {
    /// Remember a fresh one-time login code (made by [`secret`]).
    pub fn add_code(&mut self, code: String, now: Instant) {
        self.codes
            .retain(|(_, made)| now.duration_since(*made) < LOGIN_CODE_TTL);
        if self.codes.len() >= MAX_LOGIN_CODES {
            self.codes.remove(0);
        }
        self.codes.push((code, now));
    }

    /// Spend a login code: if it is open and fresh, it is gone from now on
    /// and a new session starts with the given id and CSRF token.
    pub fn log_in(&mut self, code: &str, session: String, csrf: String, now: Instant) -> bool {
        let found = self
            .codes
            .iter()
            .position(|(c, _)| constant_time_eq(c.as_bytes(), code.as_bytes()));
        let Some(index) = found else {
            return false;
        };
        let (_, made) = self.codes.remove(index);
        if now.duration_since(made) >= LOGIN_CODE_TTL {
            return false;
        }
        self.expire(now);
        if self.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = self
                .sessions
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(i, _)| i)
        {
            self.sessions.remove(oldest);
        }
        self.sessions.push(Session {
            id: session,
            csrf,
            last_used: now,
        });
        true
    }

    /// The CSRF token of a live session, marking it used.
    pub fn touch(&mut self, session: &str, now: Instant) -> Option<String> {
        self.expire(now);
        let found = self
            .sessions
            .iter_mut()
            .find(|s| constant_time_eq(s.id.as_bytes(), session.as_bytes()))?;
        found.last_used = now;
        Some(found.csrf.clone())
    }

    fn expire(&mut self, now: Instant) {
        self.sessions
            .retain(|s| now.duration_since(s.last_used) < SESSION_IDLE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> String {
        secret().expect("randomness")
    }

    #[test]
    fn a_code_logs_in_once() {
        let (mut s, now) = (Sessions::default(), Instant::now());
        let code = fresh();
        s.add_code(code.clone(), now);
        assert!(s.log_in(&code, "s1".into(), "c1".into(), now));
        assert!(!s.log_in(&code, "s2".into(), "c2".into(), now));
        assert_eq!(s.touch("s1", now).as_deref(), Some("c1"));
        assert_eq!(s.touch("s2", now), None);
        assert!(!s.log_in("", "s3".into(), "c3".into(), now));
    }

    #[test]
    fn codes_expire_and_are_bounded() {
        let (mut s, now) = (Sessions::default(), Instant::now());
        let late = fresh();
        s.add_code(late.clone(), now);
        assert!(!s.log_in(&late, "s".into(), "c".into(), now + LOGIN_CODE_TTL));
        let codes: Vec<String> = (0..=MAX_LOGIN_CODES).map(|_| fresh()).collect();
        for c in &codes {
            s.add_code(c.clone(), now);
        }
        assert!(
            !s.log_in(&codes[0], "s".into(), "c".into(), now),
            "the oldest went"
        );
        assert!(s.log_in(&codes[MAX_LOGIN_CODES], "s".into(), "c".into(), now));
    }

    #[test]
    fn sessions_end_when_idle_and_are_bounded() {
        let (mut s, now) = (Sessions::default(), Instant::now());
        for i in 0..=MAX_SESSIONS {
            let code = fresh();
            s.add_code(code.clone(), now);
            let at = now + Duration::from_secs(i as u64);
            assert!(s.log_in(&code, format!("s{i}"), format!("c{i}"), at));
        }
        let later = now + Duration::from_secs(100);
        assert_eq!(s.touch("s0", later), None, "the least recently used went");
        assert_eq!(s.touch("s1", later).as_deref(), Some("c1"));
        assert_eq!(s.touch("s1", later + SESSION_IDLE), None);
    }
}
