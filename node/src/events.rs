//! What the node tells its observers (the API's event stream, logs, tests).

use kith_keys::{AccountId, DeviceId};
use serde::Serialize;

/// Capacity of the event broadcast channel. A subscriber that falls further
/// behind than this loses the oldest events and is told how many (SSE
/// `lagged` event), instead of slowing the node down.
pub const EVENT_BUFFER: usize = 256;

/// Something that happened, in the past tense.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A peer presented a valid device certificate.
    PeerConnected {
        device: DeviceId,
        account: AccountId,
    },
    /// The last connection to a peer closed.
    PeerDisconnected { device: DeviceId },
    /// A peer presented a certificate that did not verify or was not its own;
    /// the node closed every connection to it.
    PeerRejected { device: DeviceId, reason: String },
    /// Someone asked to be friends; waiting for `friend accept` or `decline`.
    FriendRequestReceived {
        account: AccountId,
        name: String,
        message: String,
    },
    /// A friendship was made (either side accepted).
    FriendAdded { account: AccountId, name: String },
    /// Our request was declined.
    FriendRequestDeclined { account: AccountId },
    /// A friendship ended (either side removed it).
    FriendRemoved { account: AccountId },
    /// A contact turned out to be on Kith.
    SuggestionFound { account: AccountId, reason: String },
    /// A device joined this account (`code` is the confirmation code on the
    /// device that linked it, empty on the others).
    DeviceLinked {
        device: DeviceId,
        name: String,
        code: String,
    },
    /// A device of this account was revoked.
    DeviceRevoked { device: DeviceId },
    /// A platform link's proof was checked through its bridge (ours or a
    /// friend's link); a platform that was down leaves no event.
    LinkChecked {
        owner: AccountId,
        platform: String,
        handle: String,
        verified: bool,
    },
    /// A friend's new device asks for this node's recovery share; approve
    /// with the code its owner reads out (`kith recovery approve`).
    RecoveryRequested {
        account: AccountId,
        device: DeviceId,
    },
    /// A friend's node confirmed it holds this account's recovery share.
    RecoveryShareHeld { account: AccountId },
    /// A document changed here (a local edit or changes received).
    DocUpdated {
        owner: AccountId,
        doc: String,
        fields: Vec<String>,
    },
}

impl Event {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::PeerConnected { .. } => "peer_connected",
            Event::PeerDisconnected { .. } => "peer_disconnected",
            Event::PeerRejected { .. } => "peer_rejected",
            Event::FriendRequestReceived { .. } => "friend_request_received",
            Event::FriendAdded { .. } => "friend_added",
            Event::FriendRequestDeclined { .. } => "friend_request_declined",
            Event::FriendRemoved { .. } => "friend_removed",
            Event::SuggestionFound { .. } => "suggestion_found",
            Event::LinkChecked { .. } => "link_checked",
            Event::DocUpdated { .. } => "doc_updated",
            Event::RecoveryRequested { .. } => "recovery_requested",
            Event::RecoveryShareHeld { .. } => "recovery_share_held",
            Event::DeviceLinked { .. } => "device_linked",
            Event::DeviceRevoked { .. } => "device_revoked",
        }
    }
}
