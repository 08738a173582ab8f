//! The friendship state machine: what a verified handshake message may do,
//! given where this node stands with its sender.
//!
//! Sans-IO: the node reads its records into a [`Standing`], asks
//! [`decide`], and performs the [`Effect`]. The rule that matters most: an
//! accept counts only if it answers a *live* outgoing request (state
//! `requested`) by the hash of one of that request's signed versions. After
//! a removal, decline or block the old versions are dead, so an ex-friend
//! replaying its old accept, or signing a new one that names the old
//! request, changes nothing.

use serde::{Deserialize, Serialize};

use crate::refusal::WireRefusal;

/// Who started a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// Friendship states, as the CLI contract names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// We asked; no answer yet.
    Requested,
    /// They asked; waiting for our decision.
    Pending,
    Friends,
    Declined,
    Removed,
    Blocked,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Requested => "requested",
            RequestState::Pending => "pending",
            RequestState::Friends => "friends",
            RequestState::Declined => "declined",
            RequestState::Removed => "removed",
            RequestState::Blocked => "blocked",
        }
    }
}

/// Where this node stands with the sender of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// The request record with the sender, if any.
    pub record: Option<(Direction, RequestState)>,
    /// Hashes of the versions of our outgoing request that were delivered.
    pub versions: Vec<[u8; 32]>,
    /// The friends document lists the sender.
    pub friends: bool,
    /// The sender is blocked.
    pub blocked: bool,
    /// The queue of incoming requests is full (and the sender is not in it).
    pub pending_full: bool,
}

impl Standing {
    /// Our outgoing request to the sender is live: sent, not yet answered.
    pub fn asked(&self) -> bool {
        self.record == Some((Direction::Outgoing, RequestState::Requested))
    }

    fn answers_live_request(&self, request: &[u8; 32]) -> bool {
        self.asked() && self.versions.contains(request)
    }
}

/// A verified handshake message, as far as the state machine cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A friend request; `invited` if it carried a valid, unused ticket of ours.
    Request {
        invited: bool,
    },
    Accept {
        request: [u8; 32],
    },
    Decline {
        request: [u8; 32],
    },
    Remove,
}

/// What the node does with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Become friends now and answer with our accept (they held our
    /// ticket, or asked while we asked them).
    AcceptNow,
    /// Already friends (their copy was lost): answer with our accept again.
    AcceptAgain,
    /// Keep the request for the user's decision.
    Hold,
    /// Their accept answers our live request: become friends.
    Befriend,
    /// Their decline answers our live request.
    Declined,
    /// They ended the friendship.
    Unfriend,
    /// Nothing changes; acknowledge.
    Nothing,
    Refuse(Refusal),
}

/// Why a message is refused; the code travels back to the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An accept or decline that answers no live request of ours.
    NoSuchRequest,
    Blocked,
    /// Too many requests wait already: try later.
    Busy,
}

impl Refusal {
    /// What the receiver answers.
    pub fn wire(self) -> WireRefusal {
        match self {
            Refusal::NoSuchRequest => WireRefusal::NoSuchRequest,
            Refusal::Blocked => WireRefusal::Blocked,
            Refusal::Busy => WireRefusal::Busy,
        }
    }
}

/// The effect of a verified message from a sender we stand with as `standing`.
pub fn decide(standing: &Standing, incoming: &Incoming) -> Effect {
    if standing.blocked {
        return Effect::Refuse(Refusal::Blocked);
    }
    match incoming {
        Incoming::Request { invited } => {
            if standing.friends {
                Effect::AcceptAgain
            } else if *invited || standing.asked() {
                Effect::AcceptNow
            } else if standing.record == Some((Direction::Incoming, RequestState::Pending)) {
                Effect::Hold
            } else if standing.pending_full {
                Effect::Refuse(Refusal::Busy)
            } else {
                Effect::Hold
            }
        }
        Incoming::Accept { request } => {
            if standing.answers_live_request(request) {
                Effect::Befriend
            } else if standing.friends {
                Effect::Nothing
            } else {
                Effect::Refuse(Refusal::NoSuchRequest)
            }
        }
        Incoming::Decline { request } => {
            if standing.answers_live_request(request) {
                Effect::Declined
            } else {
                Effect::Refuse(Refusal::NoSuchRequest)
            }
        }
        Incoming::Remove if standing.friends => Effect::Unfriend,
        Incoming::Remove => Effect::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: [u8; 32] = [1; 32];
    const NEW: [u8; 32] = [2; 32];

    fn standing(record: Option<(Direction, RequestState)>, friends: bool) -> Standing {
        Standing {
            record,
            versions: vec![OLD],
            friends,
            ..Standing::default()
        }
    }

    /// Finding 4 of the hostile-peers review: after a removal the record
    /// kept its direction and signed versions, and an accept naming the old
    /// request made the ex-friend a friend again.
    #[test]
    fn an_ex_friend_cannot_accept_a_dead_request() {
        for state in [
            RequestState::Removed,
            RequestState::Declined,
            RequestState::Friends,
            RequestState::Pending,
        ] {
            let ex = standing(Some((Direction::Outgoing, state)), false);
            assert_eq!(
                decide(&ex, &Incoming::Accept { request: OLD }),
                Effect::Refuse(Refusal::NoSuchRequest),
                "{state:?}"
            );
            assert_eq!(
                decide(&ex, &Incoming::Decline { request: OLD }),
                Effect::Refuse(Refusal::NoSuchRequest)
            );
        }
        let none = Standing::default();
        assert_eq!(
            decide(&none, &Incoming::Accept { request: OLD }),
            Effect::Refuse(Refusal::NoSuchRequest)
        );
    }

    #[test]
    fn an_accept_counts_only_for_a_delivered_version_of_a_live_request() {
        let live = standing(Some((Direction::Outgoing, RequestState::Requested)), false);
        assert_eq!(
            decide(&live, &Incoming::Accept { request: OLD }),
            Effect::Befriend
        );
        assert_eq!(
            decide(&live, &Incoming::Accept { request: NEW }),
            Effect::Refuse(Refusal::NoSuchRequest)
        );
        assert_eq!(
            decide(&live, &Incoming::Decline { request: OLD }),
            Effect::Declined
        );
        // A duplicate accept once friends changes nothing.
        let friends = standing(Some((Direction::Outgoing, RequestState::Friends)), true);
        assert_eq!(
            decide(&friends, &Incoming::Accept { request: OLD }),
            Effect::Nothing
        );
    }

    #[test]
    fn requests_are_held_accepted_or_refused() {
        let none = Standing::default();
        assert_eq!(
            decide(&none, &Incoming::Request { invited: false }),
            Effect::Hold
        );
        assert_eq!(
            decide(&none, &Incoming::Request { invited: true }),
            Effect::AcceptNow
        );
        let crossed = standing(Some((Direction::Outgoing, RequestState::Requested)), false);
        assert_eq!(
            decide(&crossed, &Incoming::Request { invited: false }),
            Effect::AcceptNow
        );
        let friends = standing(Some((Direction::Incoming, RequestState::Friends)), true);
        assert_eq!(
            decide(&friends, &Incoming::Request { invited: false }),
            Effect::AcceptAgain
        );
        let full = Standing {
            pending_full: true,
            ..Standing::default()
        };
        assert_eq!(
            decide(&full, &Incoming::Request { invited: false }),
            Effect::Refuse(Refusal::Busy)
        );
        assert_eq!(
            decide(&full, &Incoming::Request { invited: true }),
            Effect::AcceptNow
        );
        let blocked = Standing {
            blocked: true,
            ..Standing::default()
        };
        for message in [
            Incoming::Request { invited: true },
            Incoming::Accept { request: OLD },
            Incoming::Remove,
        ] {
            assert_eq!(decide(&blocked, &message), Effect::Refuse(Refusal::Blocked));
        }
        // An ex-friend asking again waits for a decision like anyone.
        let ex = standing(Some((Direction::Outgoing, RequestState::Removed)), false);
        assert_eq!(
            decide(&ex, &Incoming::Request { invited: false }),
            Effect::Hold
        );
    }

    #[test]
    fn only_a_friend_can_be_removed() {
        let friends = standing(None, true);
        assert_eq!(decide(&friends, &Incoming::Remove), Effect::Unfriend);
        assert_eq!(
            decide(&Standing::default(), &Incoming::Remove),
            Effect::Nothing
        );
    }
}
