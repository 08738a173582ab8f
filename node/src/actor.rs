//! `NodeActor`: the one task that owns the swarm, the store and all mutable node state.
//!
//! Its loop takes commands from `Node` handles first (`biased`), then swarm
//! events; each arm calls one `handle_*` function. Nothing here blocks: a
//! request that needs the network answers later through its stored reply.

mod devices;
mod dial;
mod discovery;
mod docs;
mod friends;
mod gossip;
mod handshake;
mod hello;
mod peers;
mod posts;
mod profile;
mod reach;
mod records;
mod recovery;
mod serve;
mod swarm_events;
mod sync;
mod tapped;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use libp2p::{Multiaddr, Swarm, core::transport::ListenerId, swarm::ConnectionId};
use tokio::sync::{broadcast, mpsc};
use tracing::Instrument as _;

use crate::{
    events::Event,
    home::Identity,
    net::Behaviour,
    node::{Command, NodeError, NodeOptions, Reply, Status},
    store::Store,
};

use self::{
    docs::Docs, friends::Friends, peers::Peers, posts::Bridges, records::Lookups, sync::Replication,
};

/// What child tasks (bridge calls and starts, link checks) report back to
/// the actor. They run in the actor's `JoinSet`: aborted when the actor
/// stops, and as many as what spawns them allows (`MAX_INFLIGHT_PER_BRIDGE`
/// per bridge, one start per bridge, one check per link).
#[derive(Debug)]
pub(crate) enum Internal {
    Delivered {
        delivery: crate::store::Delivery,
        result: Result<serde_json::Value, crate::bridges::CallError>,
    },
    BridgeStarted {
        handle: crate::bridges::BridgeHandle,
        status: crate::bridges::BridgeStatus,
        reply: Reply<crate::node::BridgeInfo>,
    },
    LinkChecked {
        owner: kith_keys::AccountId,
        platform: String,
        handle: String,
        result: Result<serde_json::Value, crate::bridges::CallError>,
    },
}

/// How often the actor does its timed work (expire waits, retry deliveries).
const TICK: Duration = Duration::from_secs(1);

/// How often undelivered handshake messages are retried.
const RETRY_EVERY: Duration = Duration::from_secs(15);

pub(crate) struct NodeActor {
    swarm: Swarm<Behaviour>,
    store: Store,
    identity: Identity,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event>,
    peers: Peers,
    /// Dials started by `connect`, answered when the connection is up or failed.
    pending_dials: HashMap<ConnectionId, (Multiaddr, Reply<kith_keys::DeviceId>)>,
    /// Addresses reported per configured listener (empty until the first).
    listeners: HashMap<ListenerId, Vec<Multiaddr>>,
    listen_waiters: Vec<Reply<Vec<Multiaddr>>>,
    bootstrap: Vec<Multiaddr>,
    friends: Friends,
    docs: Docs,
    replication: Replication,
    /// Kademlia queries in flight and what they are for.
    lookups: Lookups,
    last_resolve: HashMap<kith_keys::AccountId, Instant>,
    contact_lookups: HashMap<[u8; 32], Instant>,
    lookup_limiter: kith_protocol::rate::RateLimiter<()>,
    last_publish: Option<Instant>,
    last_retry: Instant,
    bridges: Bridges,
    bridges_dir: std::path::PathBuf,
    children: tokio::task::JoinSet<Option<Internal>>,
    reach: reach::Reach,
    /// Friends' recovering devices waiting for approval.
    holding: recovery::Holding,
    tap: Option<crate::tap::Tap>,
    /// Set while performing an explicit request whose messages the tap skips.
    tap_exempt: bool,
    /// Announcements of this turn, published when it ends.
    announcements: gossip::PendingAnnouncements,
}

impl NodeActor {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        options: NodeOptions,
        listeners: Vec<ListenerId>,
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<Event>,
    ) -> Self {
        NodeActor {
            swarm,
            store: options.store.clone(),
            identity: options.identity.clone(),
            commands,
            events,
            peers: Peers::default(),
            pending_dials: HashMap::new(),
            listeners: listeners.into_iter().map(|id| (id, Vec::new())).collect(),
            listen_waiters: Vec::new(),
            bootstrap: options.bootstrap,
            friends: Friends::new(options.max_pending_incoming),
            docs: Docs::load_own(
                &options.store,
                &options.identity.device(),
                &options.identity.account(),
            ),
            replication: Replication::default(),
            lookups: HashMap::new(),
            last_resolve: HashMap::new(),
            contact_lookups: HashMap::new(),
            lookup_limiter: kith_protocol::rate::RateLimiter::new(
                records::MAX_CONTACT_LOOKUPS_PER_MINUTE,
                60,
                1,
            ),
            last_publish: None,
            last_retry: Instant::now(),
            bridges: Bridges::default(),
            bridges_dir: options.bridges_dir.clone(),
            children: tokio::task::JoinSet::new(),
            reach: reach::Reach::new(options.relay),
            holding: recovery::Holding::default(),
            tap: options.tap.clone(),
            tap_exempt: false,
            announcements: gossip::PendingAnnouncements::default(),
        }
    }

    pub(crate) async fn run(mut self) {
        let span = tracing::info_span!("node", me = %self.identity.device().fmt_short());
        async move {
            tracing::info!(account = %self.identity.account(), device = %self.identity.device(), "node started");
            self.adopt_initial_name();
            self.migrate_blocks();
            self.expire_pending_requests(crate::unix_now());
            self.publish_own_certificate();
            self.start_bridges();
            self.update_subscriptions(None);
            self.dial_at_start();
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let shutdown_reply = loop {
                tokio::select! {
                    biased;
                    command = self.commands.recv() => match command {
                        Some(Command::Shutdown(reply)) => break Some(reply),
                        Some(command) => self.handle_command(command),
                        None => break None,
                    },
                    Some(done) = self.children.join_next(), if !self.children.is_empty() => {
                        match done {
                            Ok(Some(internal)) => self.handle_internal(internal),
                            Ok(None) => {}
                            Err(e) => tracing::error!(error = %e, "a child task failed"),
                        }
                    }
                    event = self.swarm.select_next_some() => self.handle_swarm_event(event),
                    _ = tick.tick() => self.handle_tick(),
                }
                // After the turn's replies: see `announce`.
                self.publish_announcements();
            };
            if let Err(e) = self.store.flush() {
                tracing::error!(error = %e, "flushing the store at shutdown failed");
            }
            tracing::info!("node stopped");
            if let Some(reply) = shutdown_reply {
                let _ = reply.send(Ok(()));
            }
        }
        .instrument(span)
        .await
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => {
                let _ = reply.send(Ok(self.status()));
            }
            Command::Export(reply) => {
                let _ = reply.send(self.export());
            }
            Command::Connect(addr, reply) => self.handle_connect(addr, reply),
            Command::RecoverySetup(friends, threshold, reply) => {
                let _ = reply.send(self.recovery_setup(friends, threshold));
            }
            Command::RecoveryStatus(reply) => {
                let _ = reply.send(self.recovery_status());
            }
            Command::RecoveryRequests(reply) => {
                let _ = reply.send(Ok(self.recovery_requests()));
            }
            Command::RecoveryApprove(account, code, reply) => {
                let _ = reply.send(self.recovery_approve(account, &code));
            }
            Command::WaitListening(reply) => {
                self.listen_waiters.push(reply);
                self.answer_listen_waiters();
            }
            Command::Invite(ttl, reply) => self.handle_invite(ttl, reply),
            Command::AddFriend(target, message, reply) => {
                self.handle_add_friend(target, message, reply)
            }
            Command::ActOnFriend(account, action, reply) => {
                self.handle_act_on_friend(account, action, reply)
            }
            Command::FriendRequests(reply) => {
                let _ = reply.send(self.friend_requests());
            }
            Command::Friends(reply) => {
                let _ = reply.send(Ok(self.friend_list()));
            }
            Command::Suggestions(reply) => {
                let _ = reply.send(self.suggestions());
            }
            Command::ImportContacts(contacts, reply) => {
                let _ = reply.send(self.import_contacts(contacts));
            }
            Command::Discoverable(change, reply) => {
                let _ = reply.send(self.change_discoverable(change));
            }
            Command::SetField(field, value, visibility, reply) => {
                let _ = reply.send(self.set_field(&field, &value, visibility));
            }
            Command::UnsetField(field, reply) => {
                let _ = reply.send(self.unset_field(&field));
            }
            Command::Profile(account, reply) => {
                if failpoint("actor-panic-on-profile") {
                    panic!("failpoint actor-panic-on-profile");
                }
                let _ = reply.send(self.profile_of(account));
            }
            Command::AddLink(platform, handle, proof, reply) => {
                let _ = reply.send(self.add_link(platform, handle, proof));
            }
            Command::RemoveLink(platform, handle, reply) => {
                let _ = reply.send(self.remove_link(&platform, &handle));
            }
            Command::Links(account, reply) => {
                // Friends' nodes check others' proofs themselves, now and then.
                if let Some(owner) = account.filter(|a| *a != self.identity.account()) {
                    self.verify_links(owner, false);
                }
                let _ = reply.send(Ok(self.links_of(account)));
            }
            Command::LinkStatement(platform, handle, reply) => {
                let _ = reply.send(self.link_statement(&platform, &handle));
            }
            Command::DeviceLink(ttl, admin, reply) => {
                let _ = reply.send(self.device_link(ttl, admin));
            }
            Command::Devices(account, reply) => {
                let _ = reply.send(Ok(match account {
                    Some(a) if a != self.identity.account() => self.devices_of(&a),
                    _ => self.device_list(),
                }));
            }
            Command::RevokeDevice(device, reply) => {
                let _ = reply.send(self.revoke_device(device));
            }
            Command::Post(text, visibility, bridges, reply) => {
                let _ = reply.send(self.post(text, visibility, bridges));
            }
            Command::Feed(account, all, limit, reply) => {
                let _ = reply.send(Ok(self.feed(account, all, limit)));
            }
            Command::PostStatus(post, reply) => {
                let _ = reply.send(self.post_status(&post));
            }
            Command::AddBridge(config, reply) => self.add_bridge(config, reply),
            Command::RemoveBridge(name, reply) => {
                let _ = reply.send(self.remove_bridge(&name));
            }
            Command::Bridges(reply) => {
                let _ = reply.send(Ok(self.bridge_list()));
            }
            Command::Pull(device, owner, doc, reply) => {
                // Asked for explicitly: naming `owner` to that peer is the
                // caller's choice, not a leak.
                self.tap_exempt = true;
                self.pull(crate::net::peer_of(&device), vec![(owner, doc)]);
                self.tap_exempt = false;
                let _ = reply.send(Ok(()));
            }
            // The loop stops on `Shutdown` before getting here; answering
            // keeps this match total without a panic.
            Command::Shutdown(reply) => {
                let _ = reply.send(Ok(()));
            }
        }
    }

    fn status(&self) -> Status {
        Status {
            account: self.identity.account(),
            device: self.identity.device(),
            listen: self.swarm.listeners().cloned().collect(),
            peers: self.peers.statuses(),
            reachability: self.reach.status,
            relays: self.reach.relayed_addrs(),
            friends_online: self.friends_online(),
            handshakes_dropped: self.friends.dropped,
            pulls_denied: self.replication.denied,
            changes_rejected: self.replication.rejected,
            pulls_served: self.replication.served,
            changes_inline: self.replication.inline,
            recovering: false,
            shares_received: 0,
        }
    }

    fn handle_internal(&mut self, internal: Internal) {
        match internal {
            Internal::Delivered { delivery, result } => self.handle_delivered(delivery, result),
            Internal::BridgeStarted {
                handle,
                status,
                reply,
            } => self.bridge_started(handle, status, reply),
            Internal::LinkChecked {
                owner,
                platform,
                handle,
                result,
            } => self.link_checked(owner, platform, handle, result),
        }
    }

    /// Timed work: answer `friend add` waits that ran out, retry undelivered
    /// handshake messages, republish records when due.
    fn handle_tick(&mut self) {
        let now = Instant::now();
        self.expire_add_waiters(now);
        self.run_due_retries(now);
        self.drop_silent_peers(now);
        let me = *self.swarm.local_peer_id();
        // A relay node spares its clients' connections (their reservations
        // and circuits), a client the connections to its relays.
        let spared = |peer: &libp2p::PeerId| self.reach.relay_mode || self.reach.relies_on(peer);
        for surplus in self.peers.surplus_connections(&me, now, spared) {
            tracing::debug!(connection = %surplus, "closing a surplus connection");
            self.swarm.close_connection(surplus);
        }
        self.maintain_relays();
        if now.duration_since(self.last_retry) >= RETRY_EVERY {
            self.last_retry = now;
            self.expire_pending_requests(crate::unix_now());
            match self.store.outbox_accounts() {
                Ok(accounts) => {
                    for account in accounts {
                        if self.peer_of_account(&account).is_some() {
                            self.deliver_outbox(&account);
                        } else {
                            self.resolve_account(account);
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the handshake outbox"),
            }
        }
        self.publish_records_if_due(false);
        self.deliver_due();
    }

    /// A peer proved its account: refuse it if blocked, else deliver what waits for it.
    fn account_connected(&mut self, account: kith_keys::AccountId) {
        if self.is_blocked(&account) {
            tracing::info!(account = %account.fmt_short(), "closing connection to a blocked account");
            self.disconnect_account(&account);
            return;
        }
        self.deliver_outbox(&account);
        self.send_pending_shares();
        if let Some(peer) = self.peer_of_account(&account) {
            self.pull_on_connect(peer, account);
        }
        if self.last_publish.is_none() {
            self.publish_records_if_due(true);
        }
    }

    fn emit(&self, event: Event) {
        // No subscribers is fine: events are for whoever is listening.
        let _ = self.events.send(event);
    }

    fn answer_listen_waiters(&mut self) {
        let ready = self.listeners.values().all(|addrs| !addrs.is_empty());
        if ready {
            let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
            for waiter in self.listen_waiters.drain(..) {
                let _ = waiter.send(Ok(addrs.clone()));
            }
        }
    }
}

/// Whether the failpoint `name` is set (`KITH_FAILPOINT=name`): a fault
/// that tests inject into a real daemon to check how it fails.
pub(crate) fn failpoint(name: &str) -> bool {
    std::env::var("KITH_FAILPOINT").is_ok_and(|v| v == name)
}

impl From<kith_crdt::DocError> for NodeError {
    fn from(e: kith_crdt::DocError) -> Self {
        NodeError::Store(e.to_string())
    }
}

impl From<crate::store::StoreError> for NodeError {
    fn from(e: crate::store::StoreError) -> Self {
        NodeError::Store(e.to_string())
    }
}
