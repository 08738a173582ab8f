//! Why a peer refused a handshake or pairing message, typed. The wire keeps
//! the stable snake_case code (a string, so an older node still reads a
//! newer node's reason); both sides speak through [`WireRefusal`], and the
//! sender's one question — try again later, or give up? — is
//! [`WireRefusal::is_transient`].

/// A refusal on `/kith/friend/1` or `/kith/pair/1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireRefusal {
    /// Too many messages from this peer this minute.
    RateLimited,
    /// Too many requests wait already.
    Busy,
    /// The receiver failed (its storage, its randomness).
    Internal,
    /// Signed too long ago or too far ahead: the clocks or the sender's
    /// outbox are behind; a fresh seal passes.
    Stale,
    /// This exact message was seen before.
    Replay,
    /// An accept or decline that answers no live request.
    NoSuchRequest,
    Blocked,
    TooLarge,
    BadCertificate,
    BadSignature,
    Malformed,
    WrongSender,
    WrongAddressee,
    FromSelf,
    FieldTooLong,
    /// Pairing: the ticket's time is up.
    Expired,
    /// Pairing: the ticket was used already.
    Used,
    WrongSecret,
    WrongAccount,
    NotADevice,
    NameTooLong,
    /// Pairing: the device asked holds no account key.
    NoAccountKey,
    /// Recovery: this node holds no share of that account.
    NoShare,
    /// Recovery: shares are held only for friends.
    NotAFriend,
    /// A code this version does not know (a newer peer's).
    Other(String),
}

/// Every known refusal and its code, in one place.
const CODES: &[(WireRefusal, &str)] = &[
    (WireRefusal::RateLimited, "rate_limited"),
    (WireRefusal::Busy, "busy"),
    (WireRefusal::Internal, "internal"),
    (WireRefusal::Stale, "stale"),
    (WireRefusal::Replay, "replay"),
    (WireRefusal::NoSuchRequest, "no_such_request"),
    (WireRefusal::Blocked, "blocked"),
    (WireRefusal::TooLarge, "too_large"),
    (WireRefusal::BadCertificate, "bad_certificate"),
    (WireRefusal::BadSignature, "bad_signature"),
    (WireRefusal::Malformed, "malformed"),
    (WireRefusal::WrongSender, "wrong_sender"),
    (WireRefusal::WrongAddressee, "wrong_addressee"),
    (WireRefusal::FromSelf, "from_self"),
    (WireRefusal::FieldTooLong, "field_too_long"),
    (WireRefusal::Expired, "expired"),
    (WireRefusal::Used, "used"),
    (WireRefusal::WrongSecret, "wrong_secret"),
    (WireRefusal::WrongAccount, "wrong_account"),
    (WireRefusal::NotADevice, "not_a_device"),
    (WireRefusal::NameTooLong, "name_too_long"),
    (WireRefusal::NoAccountKey, "no_account_key"),
    (WireRefusal::NoShare, "no_share"),
    (WireRefusal::NotAFriend, "not_a_friend"),
];

impl WireRefusal {
    /// The code as it travels.
    pub fn code(&self) -> &str {
        match self {
            WireRefusal::Other(code) => code,
            known => CODES
                .iter()
                .find(|(r, _)| r == known)
                .map_or("unknown", |(_, code)| code),
        }
    }

    /// Read a received code; unknown codes are kept as they came.
    pub fn from_code(code: &str) -> Self {
        CODES
            .iter()
            .find(|(_, c)| *c == code)
            .map_or_else(|| WireRefusal::Other(code.to_string()), |(r, _)| r.clone())
    }

    /// Worth sending again later: the receiver was busy, limited, failing,
    /// or judged the message's time (a fresh seal fixes it). Everything
    /// else (a bad signature, a block, a used ticket) fails again the same
    /// way, and so does a code this version does not know.
    pub fn is_transient(&self) -> bool {
        match self {
            WireRefusal::RateLimited
            | WireRefusal::Busy
            | WireRefusal::Internal
            | WireRefusal::Stale => true,
            WireRefusal::Replay
            | WireRefusal::NoSuchRequest
            | WireRefusal::Blocked
            | WireRefusal::TooLarge
            | WireRefusal::BadCertificate
            | WireRefusal::BadSignature
            | WireRefusal::Malformed
            | WireRefusal::WrongSender
            | WireRefusal::WrongAddressee
            | WireRefusal::FromSelf
            | WireRefusal::FieldTooLong
            | WireRefusal::Expired
            | WireRefusal::Used
            | WireRefusal::WrongSecret
            | WireRefusal::WrongAccount
            | WireRefusal::NotADevice
            | WireRefusal::NameTooLong
            | WireRefusal::NoAccountKey
            | WireRefusal::NoShare
            | WireRefusal::NotAFriend
            | WireRefusal::Other(_) => false,
        }
    }
}

impl std::fmt::Display for WireRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_itself() {
        for (refusal, code) in CODES {
            assert_eq!(refusal.code(), *code);
            assert_eq!(WireRefusal::from_code(code), *refusal);
        }
        let unknown = WireRefusal::from_code("from_the_future");
        assert_eq!(unknown.code(), "from_the_future");
        assert!(!unknown.is_transient());
    }

    #[test]
    fn only_time_and_load_are_transient() {
        let transient: Vec<&str> = CODES
            .iter()
            .filter(|(r, _)| r.is_transient())
            .map(|(_, c)| *c)
            .collect();
        assert_eq!(transient, ["rate_limited", "busy", "internal", "stale"]);
    }
}
