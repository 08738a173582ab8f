//! `Node`: the cloneable handle through which everything talks to the node actor.

use std::{sync::Arc, time::Duration};

use kith_keys::{AccountId, DeviceId};
use libp2p::Multiaddr;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{
    actor::NodeActor,
    events::{EVENT_BUFFER, Event},
    home::Identity,
    net::{SwarmSettings, build_swarm},
    refusal::{Kind, Refusal},
    store::Store,
};

/// Commands queued for the actor before senders wait (backpressure).
pub const COMMAND_BUFFER: usize = 64;

/// How long `connect` waits for a dial to succeed or fail.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Most remembered peers redialled at start.
pub const MAX_REDIAL_AT_START: usize = 32;

/// What a node is started with.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub identity: Identity,
    pub store: Store,
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    /// Serve the Kademlia DHT (else use it as a client only).
    pub dht_server: bool,
    /// Serve as a public node: circuit relay, reachability probes, its
    /// listen addresses announced as external.
    pub relay: bool,
    /// Where bridge configurations and their private state live.
    pub bridges_dir: std::path::PathBuf,
    /// Most incoming friend requests waiting for a decision
    /// (normally [`kith_protocol::limits::MAX_PENDING_INCOMING`]).
    pub max_pending_incoming: usize,
    /// The privacy tap (tests): every message sent is checked against what
    /// its peer may learn.
    pub tap: Option<crate::tap::Tap>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error("the node has stopped")]
    ActorDropped,
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("could not connect to {addr}: {reason}")]
    Dial { addr: Multiaddr, reason: String },
    #[error("no answer from {0} within {CONNECT_TIMEOUT:?}")]
    DialTimeout(Multiaddr),
    #[error("{0} is this node's own address")]
    DialSelf(Multiaddr),
    #[error("{0}")]
    Network(String),
    #[error("storage failed: {0}")]
    Store(String),
    /// The request was understood and refused, for a typed reason.
    #[error("{message}")]
    Refused { refusal: Refusal, message: String },
}

impl NodeError {
    pub(crate) fn refused(refusal: impl Into<Refusal>, message: impl Into<String>) -> Self {
        NodeError::Refused {
            refusal: refusal.into(),
            message: message.into(),
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            NodeError::ActorDropped => "node_stopped",
            NodeError::Listen { .. } => "listen_failed",
            NodeError::Dial { .. } => "dial_failed",
            NodeError::DialTimeout(_) => "dial_timeout",
            NodeError::DialSelf(_) => "dial_self",
            NodeError::Network(_) => "network_error",
            NodeError::Store(_) => "storage_error",
            NodeError::Refused { refusal, .. } => refusal.code(),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            NodeError::ActorDropped => Kind::Unavailable,
            NodeError::Dial { .. } | NodeError::DialSelf(_) => Kind::Upstream,
            NodeError::DialTimeout(_) => Kind::TimedOut,
            NodeError::Listen { .. } | NodeError::Network(_) | NodeError::Store(_) => {
                Kind::Internal
            }
            NodeError::Refused { refusal, .. } => refusal.kind(),
        }
    }

    /// Every code a `NodeError` that is not a refusal can have, with its
    /// kind (for the documentation test).
    pub const OTHER_CODES: &'static [(&'static str, Kind)] = &[
        ("node_stopped", Kind::Unavailable),
        ("listen_failed", Kind::Internal),
        ("dial_failed", Kind::Upstream),
        ("dial_timeout", Kind::TimedOut),
        ("dial_self", Kind::Upstream),
        ("network_error", Kind::Internal),
        ("storage_error", Kind::Internal),
    ];
}

/// Who `friend add` is for.
#[derive(Debug, Clone)]
pub enum FriendTarget {
    Ticket(kith_protocol::ticket::Ticket),
    Account(AccountId),
}

/// The state of a friendship after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendOutcome {
    pub account: AccountId,
    pub state: crate::store::RequestState,
}

/// What to do to a friendship or request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendAction {
    Accept,
    Decline,
    Remove,
    Block,
}

/// A friend as `friend list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendInfo {
    pub account: AccountId,
    pub name: String,
    pub since: u64,
    pub online: bool,
}

/// Who may read a profile field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Anyone.
    Public,
    /// Friends and own devices only.
    Friends,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Friends => "friends",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(Visibility::Public),
            "friends" => Some(Visibility::Friends),
            _ => None,
        }
    }
}

/// A profile as this node holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileView {
    pub account: AccountId,
    pub fields: std::collections::BTreeMap<String, (String, Visibility)>,
}

/// One of this account's devices, as `device list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device: DeviceId,
    pub name: String,
    pub added_at: u64,
    pub revoked: bool,
    pub this: bool,
}

/// A post as `feed` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPost {
    pub account: AccountId,
    pub post: kith_crdt::feed::Post,
    pub visibility: Visibility,
}

/// A bridge as `bridge list` shows it (never its settings: they hold secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeInfo {
    pub name: String,
    pub plugin: String,
    pub state: String,
    pub capabilities: Vec<String>,
}

/// A freshly issued friend ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub ticket: String,
    pub expires_at: u64,
}

/// A peer as `status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub device: DeviceId,
    /// `None` until the peer's hello arrived (or if it is not a Kith node).
    pub account: Option<AccountId>,
    pub addr: Multiaddr,
    /// Whether any connection to the peer is direct, or all go through a relay.
    pub via: Via,
}

/// How a peer is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Direct,
    Relayed,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Relayed => "relayed",
        }
    }
}

/// Whether others can dial this node directly, as AutoNAT found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    Public,
    Private,
    Unknown,
}

impl Reachability {
    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::Public => "public",
            Reachability::Private => "private",
            Reachability::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub account: AccountId,
    pub device: DeviceId,
    pub listen: Vec<Multiaddr>,
    pub peers: Vec<PeerStatus>,
    pub reachability: Reachability,
    /// Relay reservations held: the relayed addresses others reach us at.
    pub relays: Vec<Multiaddr>,
    pub friends_online: usize,
    /// Incoming handshake messages dropped by the flood limits so far.
    pub handshakes_dropped: u64,
    /// Pulls of documents this node refused to serve (serving rule) so far.
    pub pulls_denied: u64,
    /// Document changes received that failed verification so far.
    pub changes_rejected: u64,
    /// Documents this node answered pulls for so far (including "nothing new").
    pub pulls_served: u64,
    /// Changes applied straight from announcements, without a pull, so far.
    pub changes_inline: u64,
    /// This device is still recovering `account` (social recovery): only
    /// status, connect and events work until it has the account key.
    pub recovering: bool,
    /// While recovering: friends' shares received so far.
    pub shares_received: usize,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

/// Requests to the actor, each with the channel its answer goes back on.
#[derive(Debug)]
pub(crate) enum Command {
    Status(Reply<Status>),
    /// The account key and own documents, for `kith export`.
    Export(Reply<crate::backup::Bundle>),
    Connect(Multiaddr, Reply<DeviceId>),
    RecoverySetup(Vec<AccountId>, u8, Reply<crate::store::RecoverySetup>),
    RecoveryStatus(Reply<crate::store::RecoverySetup>),
    RecoveryRequests(Reply<Vec<kith_protocol::recovery::Asking>>),
    RecoveryApprove(AccountId, String, Reply<DeviceId>),
    WaitListening(Reply<Vec<Multiaddr>>),
    Invite(Duration, Reply<Invite>),
    AddFriend(FriendTarget, String, Reply<FriendOutcome>),
    ActOnFriend(AccountId, FriendAction, Reply<FriendOutcome>),
    FriendRequests(Reply<Vec<crate::store::RequestRecord>>),
    Friends(Reply<Vec<FriendInfo>>),
    Suggestions(Reply<Vec<crate::store::Suggestion>>),
    ImportContacts(Vec<crate::contacts::ContactId>, Reply<usize>),
    Discoverable(
        DiscoverableChange,
        Reply<Vec<crate::store::DiscoverableRecord>>,
    ),
    SetField(String, String, Visibility, Reply<()>),
    UnsetField(String, Reply<()>),
    Profile(Option<AccountId>, Reply<ProfileView>),
    AddLink(String, String, String, Reply<()>),
    RemoveLink(String, String, Reply<()>),
    Links(
        Option<AccountId>,
        Reply<Vec<(kith_crdt::identity::Link, bool)>>,
    ),
    LinkStatement(String, String, Reply<String>),
    Pull(DeviceId, AccountId, kith_crdt::DocKind, Reply<()>),
    DeviceLink(u64, bool, Reply<Invite>),
    Devices(Option<AccountId>, Reply<Vec<DeviceInfo>>),
    RevokeDevice(DeviceId, Reply<()>),
    Post(String, Visibility, Option<Vec<String>>, Reply<String>),
    Feed(Option<AccountId>, bool, usize, Reply<Vec<FeedPost>>),
    PostStatus(String, Reply<Vec<crate::store::Delivery>>),
    AddBridge(crate::bridges::BridgeConfig, Reply<BridgeInfo>),
    RemoveBridge(String, Reply<()>),
    Bridges(Reply<Vec<BridgeInfo>>),
    Shutdown(Reply<()>),
}

/// `discoverable add|remove|list`.
#[derive(Debug, Clone)]
pub enum DiscoverableChange {
    Add(kith_protocol::records::IdentifierKind, String),
    Remove(kith_protocol::records::IdentifierKind, String),
    List,
}

/// A running node. Clone freely; when the actor has stopped every method
/// returns [`NodeError::ActorDropped`].
#[derive(Debug, Clone)]
pub struct Node {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    ids: Arc<(AccountId, DeviceId)>,
}

impl Command {
    /// Answer the command with `error`, whatever it asked (an actor that
    /// cannot do it: a recovering device has no account yet).
    pub(crate) fn refuse(self, error: NodeError) {
        fn no<T>(reply: Reply<T>, error: NodeError) {
            let _ = reply.send(Err(error));
        }
        match self {
            Command::Status(r) => no(r, error),
            Command::Export(r) => no(r, error),
            Command::Connect(_, r) => no(r, error),
            Command::RecoverySetup(_, _, r) => no(r, error),
            Command::RecoveryStatus(r) => no(r, error),
            Command::RecoveryRequests(r) => no(r, error),
            Command::RecoveryApprove(_, _, r) => no(r, error),
            Command::WaitListening(r) => no(r, error),
            Command::Invite(_, r) => no(r, error),
            Command::AddFriend(_, _, r) => no(r, error),
            Command::ActOnFriend(_, _, r) => no(r, error),
            Command::FriendRequests(r) => no(r, error),
            Command::Friends(r) => no(r, error),
            Command::Suggestions(r) => no(r, error),
            Command::ImportContacts(_, r) => no(r, error),
            Command::Discoverable(_, r) => no(r, error),
            Command::SetField(_, _, _, r) => no(r, error),
            Command::UnsetField(_, r) => no(r, error),
            Command::Profile(_, r) => no(r, error),
            Command::AddLink(_, _, _, r) => no(r, error),
            Command::RemoveLink(_, _, r) => no(r, error),
            Command::Links(_, r) => no(r, error),
            Command::LinkStatement(_, _, r) => no(r, error),
            Command::Pull(_, _, _, r) => no(r, error),
            Command::DeviceLink(_, _, r) => no(r, error),
            Command::Devices(_, r) => no(r, error),
            Command::RevokeDevice(_, r) => no(r, error),
            Command::Post(_, _, _, r) => no(r, error),
            Command::Feed(_, _, _, r) => no(r, error),
            Command::PostStatus(_, r) => no(r, error),
            Command::AddBridge(_, r) => no(r, error),
            Command::RemoveBridge(_, r) => no(r, error),
            Command::Bridges(r) => no(r, error),
            Command::Shutdown(r) => no(r, error),
        }
    }
}

impl Node {
    /// Build the swarm, start listening and spawn the actor task.
    pub async fn spawn(
        options: NodeOptions,
    ) -> Result<(Node, tokio::task::JoinHandle<()>), NodeError> {
        let settings = SwarmSettings {
            mdns: options.mdns,
            dht_server: options.dht_server,
            relay: options.relay,
        };
        let mut swarm = build_swarm(&options.identity.device_key, &settings)
            .map_err(|e| NodeError::Network(e.to_string()))?;
        let mut listeners = Vec::new();
        for addr in &options.listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| NodeError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
            listeners.push(id);
        }
        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_BUFFER);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let ids = Arc::new((options.identity.account(), options.identity.device()));
        let actor = NodeActor::new(swarm, options, listeners, commands_rx, events.clone());
        let task = tokio::spawn(actor.run());
        Ok((
            Node {
                commands: commands_tx,
                events,
                ids,
            },
            task,
        ))
    }

    /// A handle on another actor that speaks [`Command`] (the recovering
    /// device's, `recovery::recovering`).
    pub(crate) fn from_parts(
        commands: mpsc::Sender<Command>,
        events: broadcast::Sender<Event>,
        account: AccountId,
        device: DeviceId,
    ) -> Node {
        Node {
            commands,
            events,
            ids: Arc::new((account, device)),
        }
    }

    pub fn account(&self) -> AccountId {
        self.ids.0
    }

    pub fn device(&self) -> DeviceId {
        self.ids.1
    }

    /// Live events; see [`EVENT_BUFFER`] for what happens to slow readers.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub async fn status(&self) -> Result<Status, NodeError> {
        self.request(Command::Status).await
    }

    /// What an export holds: the account key and this account's documents.
    pub async fn export(&self) -> Result<crate::backup::Bundle, NodeError> {
        self.request(Command::Export).await
    }

    /// Give `threshold`-of-N recovery shares of the account key to `friends`.
    pub async fn recovery_setup(
        &self,
        friends: Vec<AccountId>,
        threshold: u8,
    ) -> Result<crate::store::RecoverySetup, NodeError> {
        self.request(|r| Command::RecoverySetup(friends, threshold, r))
            .await
    }

    /// The shares given out and who confirmed holding one.
    pub async fn recovery_status(&self) -> Result<crate::store::RecoverySetup, NodeError> {
        self.request(Command::RecoveryStatus).await
    }

    /// Friends' new devices asking for this node's shares.
    pub async fn recovery_requests(
        &self,
    ) -> Result<Vec<kith_protocol::recovery::Asking>, NodeError> {
        self.request(Command::RecoveryRequests).await
    }

    /// Release our share of `account` to the device whose code is `code`.
    pub async fn recovery_approve(
        &self,
        account: AccountId,
        code: String,
    ) -> Result<DeviceId, NodeError> {
        self.request(|r| Command::RecoveryApprove(account, code, r))
            .await
    }

    /// Dial `addr` and wait until a connection is up (or failed).
    pub async fn connect(&self, addr: Multiaddr) -> Result<DeviceId, NodeError> {
        let request = self.request(|reply| Command::Connect(addr.clone(), reply));
        tokio::time::timeout(CONNECT_TIMEOUT, request)
            .await
            .unwrap_or(Err(NodeError::DialTimeout(addr)))
    }

    /// The listen addresses, once every configured listener has one.
    pub async fn wait_listening(&self) -> Result<Vec<Multiaddr>, NodeError> {
        self.request(Command::WaitListening).await
    }

    /// A new single-use friend ticket valid for `ttl`.
    pub async fn invite(&self, ttl: Duration) -> Result<Invite, NodeError> {
        self.request(|r| Command::Invite(ttl, r)).await
    }

    /// Send a signed friend request. With a ticket this waits (briefly) for
    /// the automatic accept; otherwise it returns `requested` and keeps
    /// delivering in the background.
    pub async fn add_friend(
        &self,
        target: FriendTarget,
        message: String,
    ) -> Result<FriendOutcome, NodeError> {
        self.request(|r| Command::AddFriend(target, message, r))
            .await
    }

    pub async fn act_on_friend(
        &self,
        account: AccountId,
        action: FriendAction,
    ) -> Result<FriendOutcome, NodeError> {
        self.request(|r| Command::ActOnFriend(account, action, r))
            .await
    }

    pub async fn friend_requests(&self) -> Result<Vec<crate::store::RequestRecord>, NodeError> {
        self.request(Command::FriendRequests).await
    }

    pub async fn friends(&self) -> Result<Vec<FriendInfo>, NodeError> {
        self.request(Command::Friends).await
    }

    pub async fn suggestions(&self) -> Result<Vec<crate::store::Suggestion>, NodeError> {
        self.request(Command::Suggestions).await
    }

    pub async fn import_contacts(
        &self,
        contacts: Vec<crate::contacts::ContactId>,
    ) -> Result<usize, NodeError> {
        self.request(|r| Command::ImportContacts(contacts, r)).await
    }

    pub async fn discoverable(
        &self,
        change: DiscoverableChange,
    ) -> Result<Vec<crate::store::DiscoverableRecord>, NodeError> {
        self.request(|r| Command::Discoverable(change, r)).await
    }

    /// Set a profile field; returns once the change is stored durably.
    pub async fn set_field(
        &self,
        field: String,
        value: String,
        visibility: Visibility,
    ) -> Result<(), NodeError> {
        self.request(|r| Command::SetField(field, value, visibility, r))
            .await
    }

    pub async fn unset_field(&self, field: String) -> Result<(), NodeError> {
        self.request(|r| Command::UnsetField(field, r)).await
    }

    /// This node's view of an account's profile (own if `None`).
    pub async fn profile(&self, account: Option<AccountId>) -> Result<ProfileView, NodeError> {
        self.request(|r| Command::Profile(account, r)).await
    }

    pub async fn add_link(
        &self,
        platform: String,
        handle: String,
        proof: String,
    ) -> Result<(), NodeError> {
        self.request(|r| Command::AddLink(platform, handle, proof, r))
            .await
    }

    pub async fn remove_link(&self, platform: String, handle: String) -> Result<(), NodeError> {
        self.request(|r| Command::RemoveLink(platform, handle, r))
            .await
    }

    /// Links, each with whether this node found its proof valid.
    pub async fn links(
        &self,
        account: Option<AccountId>,
    ) -> Result<Vec<(kith_crdt::identity::Link, bool)>, NodeError> {
        self.request(|r| Command::Links(account, r)).await
    }

    /// The statement to post on a platform to prove a link.
    pub async fn link_statement(
        &self,
        platform: String,
        handle: String,
    ) -> Result<String, NodeError> {
        self.request(|r| Command::LinkStatement(platform, handle, r))
            .await
    }

    /// Ask a connected device for what this node lacks of a document now
    /// (replication does this by itself; this is for tools and tests).
    pub async fn pull(
        &self,
        from: DeviceId,
        owner: AccountId,
        doc: kith_crdt::DocKind,
    ) -> Result<(), NodeError> {
        self.request(|r| Command::Pull(from, owner, doc, r)).await
    }

    /// A one-time pairing ticket valid for `ttl_secs`; `admin` also hands
    /// the account key to the new device.
    pub async fn device_link(&self, ttl_secs: u64, admin: bool) -> Result<Invite, NodeError> {
        self.request(|r| Command::DeviceLink(ttl_secs, admin, r))
            .await
    }

    /// This account's devices (or, with `Some`, another account's as this
    /// node holds its identity document).
    pub async fn devices(&self, account: Option<AccountId>) -> Result<Vec<DeviceInfo>, NodeError> {
        self.request(|r| Command::Devices(account, r)).await
    }

    pub async fn revoke_device(&self, device: DeviceId) -> Result<(), NodeError> {
        self.request(|r| Command::RevokeDevice(device, r)).await
    }

    /// Publish a post to the feed and queue it for bridges (all enabled ones
    /// for a public post unless `bridges` names some). Returns the post id
    /// once the post and its deliveries are stored durably.
    pub async fn post(
        &self,
        text: String,
        visibility: Visibility,
        bridges: Option<Vec<String>>,
    ) -> Result<String, NodeError> {
        self.request(|r| Command::Post(text, visibility, bridges, r))
            .await
    }

    pub async fn feed(
        &self,
        account: Option<AccountId>,
        all: bool,
        limit: usize,
    ) -> Result<Vec<FeedPost>, NodeError> {
        self.request(|r| Command::Feed(account, all, limit, r))
            .await
    }

    pub async fn post_status(
        &self,
        post: String,
    ) -> Result<Vec<crate::store::Delivery>, NodeError> {
        self.request(|r| Command::PostStatus(post, r)).await
    }

    /// Start a bridge plugin with its settings; kept only if it starts and accepts them.
    pub async fn add_bridge(
        &self,
        config: crate::bridges::BridgeConfig,
    ) -> Result<BridgeInfo, NodeError> {
        self.request(|r| Command::AddBridge(config, r)).await
    }

    pub async fn remove_bridge(&self, name: String) -> Result<(), NodeError> {
        self.request(|r| Command::RemoveBridge(name, r)).await
    }

    pub async fn bridges(&self) -> Result<Vec<BridgeInfo>, NodeError> {
        self.request(Command::Bridges).await
    }

    /// Stop the actor: flush the store, close connections. Idempotent.
    pub async fn shutdown(&self) {
        // An error means the actor is already gone, which is the goal.
        let _ = self.request(Command::Shutdown).await;
    }

    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NodeError::ActorDropped)?;
        rx.await.map_err(|_| NodeError::ActorDropped)?
    }
}
