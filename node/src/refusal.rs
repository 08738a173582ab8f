//! Why the node refused a request: one enum per capability, each variant
//! with its stable snake_case code and its [`Kind`]. The API turns a kind
//! into an HTTP status in one exhaustive match (`api::error::status`), and
//! a test holds `docs/api.md`'s error table to these enums, so a code can
//! neither drift to another status nor go undocumented.

/// What sort of refusal: the API maps each to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request itself is malformed or over a limit.
    Invalid,
    /// It names something this node does not have.
    NotFound,
    /// It contradicts the current state (already done, refused by the peer).
    Conflict,
    /// This device may not do it (e.g. it lacks the account key).
    Forbidden,
    /// Over a rate or count limit: try later.
    TooMany,
    /// Something this node depends on (a peer, a plugin) failed or refused.
    Upstream,
    /// A peer did not answer in time.
    TimedOut,
    /// This node failed (storage, randomness).
    Internal,
    /// The node is stopping.
    Unavailable,
    /// No credentials, or wrong ones.
    Unauthenticated,
    /// The request is bigger than allowed.
    TooLarge,
    /// The route exists, not with this method.
    MethodNotAllowed,
}

/// Declares a refusal enum: each variant's code and kind, and `ALL`.
macro_rules! refusals {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal, $kind:ident;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every variant (for the documentation test).
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The stable code clients match on.
            pub fn code(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            pub fn kind(self) -> Kind {
                match self {
                    $(Self::$variant => Kind::$kind,)*
                }
            }
        }
    };
}
pub(crate) use refusals;

refusals! {
    /// Friend tickets, requests and the friend list.
    FriendsRefusal {
        InvalidTtl = "invalid_ttl", Invalid;
        MessageTooLong = "message_too_long", Invalid;
        TicketExpired = "ticket_expired", Invalid;
        OwnAccount = "own_account", Invalid;
        InvalidIdentifier = "invalid_identifier", Invalid;
        NoSuchRequest = "no_such_request", NotFound;
        NotAFriend = "not_a_friend", NotFound;
        NotDiscoverable = "not_discoverable", NotFound;
        AlreadyFriends = "already_friends", Conflict;
        /// The other side refused the handshake (the message gives its reason).
        Refused = "refused", Conflict;
        BadAccept = "bad_accept", Conflict;
        TooManyInvites = "too_many_invites", TooMany;
    }
}

refusals! {
    /// Profile fields and platform links.
    ProfileRefusal {
        /// A field name, value or link over its limit.
        InvalidField = "invalid_field", Invalid;
        NoSuchField = "no_such_field", NotFound;
        NoSuchLink = "no_such_link", NotFound;
        UnknownAccount = "unknown_account", NotFound;
    }
}

refusals! {
    /// Linking and revoking devices.
    DevicesRefusal {
        InvalidName = "invalid_name", Invalid;
        InvalidTtl = "invalid_ttl", Invalid;
        TooManyInvites = "too_many_invites", TooMany;
        NoAccountKey = "no_account_key", Forbidden;
        AlreadyRevoked = "already_revoked", Conflict;
        RevokeSelf = "revoke_self", Conflict;
    }
}

refusals! {
    /// Posts and bridges.
    PostsRefusal {
        InvalidBridge = "invalid_bridge", Invalid;
        NoSuchPost = "no_such_post", NotFound;
        NoSuchBridge = "no_such_bridge", NotFound;
        BridgeExists = "bridge_exists", Conflict;
        TooManyBridges = "too_many_bridges", Invalid;
        /// The plugin did not start or refused its settings.
        BridgeRefused = "bridge_refused", Upstream;
    }
}

refusals! {
    /// Social recovery: shares, requests, approvals; and a device still recovering.
    RecoveryRefusal {
        InvalidThreshold = "invalid_threshold", Invalid;
        NoAccountKey = "no_account_key", Forbidden;
        NotAFriend = "not_a_friend", NotFound;
        NotSetUp = "recovery_not_set_up", NotFound;
        NoRecoveryRequest = "no_recovery_request", NotFound;
        /// The code matches no device asking for this account.
        WrongCode = "wrong_code", Invalid;
        /// Too many wrong codes: the account's requests are dropped for a while.
        RecoveryLocked = "recovery_locked", TooMany;
        /// This device is still recovering its account: it has no account yet.
        Recovering = "recovering", Conflict;
    }
}

/// A refusal from any capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Friends(FriendsRefusal),
    Profile(ProfileRefusal),
    Devices(DevicesRefusal),
    Posts(PostsRefusal),
    Recovery(RecoveryRefusal),
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Friends(r) => r.code(),
            Refusal::Profile(r) => r.code(),
            Refusal::Devices(r) => r.code(),
            Refusal::Posts(r) => r.code(),
            Refusal::Recovery(r) => r.code(),
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Refusal::Friends(r) => r.kind(),
            Refusal::Profile(r) => r.kind(),
            Refusal::Devices(r) => r.kind(),
            Refusal::Posts(r) => r.kind(),
            Refusal::Recovery(r) => r.kind(),
        }
    }

    /// Every refusal of every capability.
    pub fn all() -> impl Iterator<Item = Refusal> {
        let friends = FriendsRefusal::ALL.iter().map(|r| Refusal::Friends(*r));
        let profile = ProfileRefusal::ALL.iter().map(|r| Refusal::Profile(*r));
        let devices = DevicesRefusal::ALL.iter().map(|r| Refusal::Devices(*r));
        let posts = PostsRefusal::ALL.iter().map(|r| Refusal::Posts(*r));
        let recovery = RecoveryRefusal::ALL.iter().map(|r| Refusal::Recovery(*r));
        friends
            .chain(profile)
            .chain(devices)
            .chain(posts)
            .chain(recovery)
    }
}

impl From<FriendsRefusal> for Refusal {
    fn from(r: FriendsRefusal) -> Self {
        Refusal::Friends(r)
    }
}

impl From<ProfileRefusal> for Refusal {
    fn from(r: ProfileRefusal) -> Self {
        Refusal::Profile(r)
    }
}

impl From<DevicesRefusal> for Refusal {
    fn from(r: DevicesRefusal) -> Self {
        Refusal::Devices(r)
    }
}

impl From<PostsRefusal> for Refusal {
    fn from(r: PostsRefusal) -> Self {
        Refusal::Posts(r)
    }
}

impl From<RecoveryRefusal> for Refusal {
    fn from(r: RecoveryRefusal) -> Self {
        Refusal::Recovery(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code means one thing: capabilities that share one (`invalid_ttl`
    /// for friend and pairing tickets) share its kind too.
    #[test]
    fn codes_are_snake_case_and_mean_one_kind() {
        let mut seen = std::collections::BTreeMap::new();
        for r in Refusal::all() {
            let code = r.code();
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert_eq!(*seen.entry(code).or_insert(r.kind()), r.kind(), "{code}");
        }
    }
}
