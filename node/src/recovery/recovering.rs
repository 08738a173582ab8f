//! The daemon of a device that is recovering its account through friends
//! (`kith recover --account ACCOUNT --friends`). It has a device key and
//! no account yet, so it runs a small swarm of its own: it asks every peer
//! it is connected to for a share of the account ([`Request::Ask`], every
//! [`ASK_INTERVAL_SECS`]), takes the shares friends release once their
//! person typed this device's code, and, when a setup's threshold is met,
//! certifies its own key with the recovered account key, writes the home
//! and stops: the daemon then starts the full node on the completed home
//! (`daemon::run`), which redials these peers and pulls its documents
//! back from them.
//!
//! It answers the same [`Command`]s as the node actor, so the local API
//! works unchanged: status, connect and events; anything else is refused
//! with `recovering`.

use std::{collections::HashMap, time::Duration};

use futures::StreamExt as _;
use kith_keys::{AccountId, DeviceCert, DeviceId};
use kith_protocol::recovery::{ASK_INTERVAL_SECS, Collector, Reply, Request};
use libp2p::{
    Multiaddr, PeerId, Swarm, ping, relay,
    request_response::{self, ProtocolSupport},
    swarm::{
        ConnectionId, NetworkBehaviour, SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use tokio::sync::{broadcast, mpsc};

use crate::{
    events::{EVENT_BUFFER, Event},
    home::{Home, Identity, Recovering},
    net::{RecoveryBehaviour, device_of, peer_in, peer_of, recovery_behaviour},
    node::{
        COMMAND_BUFFER, Command, Node, NodeError, PeerStatus, Reachability, Reply as Answer,
        Status, Via,
    },
    refusal::RecoveryRefusal,
    store::{KnownPeer, Store},
    unix_now,
};

/// Peers a recovering device keeps asking (and redialling): those it was
/// told to connect to and those that connected to it.
pub const MAX_ASKED_PEERS: usize = 64;

/// How long a connection with no open streams stays up.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

#[allow(missing_debug_implementations)]
#[derive(NetworkBehaviour)]
struct RecoveringBehaviour {
    relay: relay::client::Behaviour,
    ping: ping::Behaviour,
    recovery: RecoveryBehaviour,
}

/// What a recovering daemon is started with.
#[derive(Debug, Clone)]
pub struct RecoveringOptions {
    pub recovering: Recovering,
    pub home: Home,
    pub store: Store,
    pub listen: Vec<Multiaddr>,
}

/// Build the swarm, listen, and spawn the recovering actor. Its task ends
/// when the account is recovered (the home is then complete) or on shutdown.
pub async fn spawn(
    options: RecoveringOptions,
) -> Result<(Node, tokio::task::JoinHandle<()>), NodeError> {
    let network = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
    let mut swarm = crate::net::swarm_with(
        &options.recovering.device_key,
        |_, relay| {
            Ok(RecoveringBehaviour {
                relay,
                ping: ping::Behaviour::default(),
                recovery: recovery_behaviour(ProtocolSupport::Outbound),
            })
        },
        IDLE_CONNECTION_TIMEOUT,
    )
    .map_err(|e| network(&e))?;
    for addr in &options.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NodeError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }
    let (commands_tx, commands) = mpsc::channel(COMMAND_BUFFER);
    let (events, _) = broadcast::channel(EVENT_BUFFER);
    let account = options.recovering.account;
    let device = options.recovering.device_key.id();
    let node = Node::from_parts(commands_tx, events.clone(), account, device);
    // Peers met during an earlier run of this recovery are asked again.
    let known = options
        .store
        .known_peers()
        .map(|(peers, _)| peers)
        .unwrap_or_default()
        .into_iter()
        .take(MAX_ASKED_PEERS)
        .map(|p| {
            let addrs = p.addrs.iter().filter_map(|a| a.parse().ok()).collect();
            (peer_of(&p.device), addrs)
        })
        .collect();
    let actor = RecoveringActor {
        swarm,
        commands,
        _events: events,
        collector: Collector::new(account),
        options,
        known,
        pending_dials: HashMap::new(),
        listen_waiters: Vec::new(),
        recovered: false,
    };
    Ok((node, tokio::spawn(actor.run())))
}

struct RecoveringActor {
    swarm: Swarm<RecoveringBehaviour>,
    commands: mpsc::Receiver<Command>,
    /// Kept so that `/v1/events` subscribers stay connected (nothing is
    /// sent while recovering).
    _events: broadcast::Sender<Event>,
    collector: Collector,
    options: RecoveringOptions,
    /// Peers to ask, with the addresses to redial them at.
    known: HashMap<PeerId, Vec<Multiaddr>>,
    pending_dials: HashMap<ConnectionId, (Multiaddr, Answer<DeviceId>)>,
    listen_waiters: Vec<Answer<Vec<Multiaddr>>>,
    recovered: bool,
}

impl RecoveringActor {
    fn account(&self) -> AccountId {
        self.collector.account()
    }

    async fn run(mut self) {
        let code = kith_protocol::recovery::code(
            &self.account(),
            &self.options.recovering.device_key.id(),
        );
        tracing::info!(account = %self.account(), %code, "recovering the account: connect to friends and read them this code");
        self.redial();
        let mut tick = tokio::time::interval(Duration::from_secs(ASK_INTERVAL_SECS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown = loop {
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => break Some(reply),
                    Some(command) => self.handle_command(command),
                    None => break None,
                },
                event = self.swarm.select_next_some() => self.handle_swarm_event(event),
                _ = tick.tick() => {
                    self.ask_everyone();
                    self.redial();
                }
            }
            if self.recovered {
                break None;
            }
        };
        if let Err(e) = self.options.store.flush() {
            tracing::error!(error = %e, "flushing the store failed");
        }
        if let Some(reply) = shutdown {
            let _ = reply.send(Ok(()));
        }
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => {
                let _ = reply.send(Ok(self.status()));
            }
            Command::Connect(addr, reply) => self.connect(addr, reply),
            Command::WaitListening(reply) => {
                self.listen_waiters.push(reply);
                self.answer_listen_waiters();
            }
            other => other.refuse(NodeError::refused(
                RecoveryRefusal::Recovering,
                format!(
                    "this device is still recovering {}; it can do that once two or more friends approved",
                    self.account()
                ),
            )),
        }
    }

    fn status(&self) -> Status {
        let peers = self
            .known
            .keys()
            .filter(|p| self.swarm.is_connected(p))
            .filter_map(|p| {
                Some(PeerStatus {
                    device: device_of(p)?,
                    account: None,
                    addr: self.known.get(p)?.first()?.clone(),
                    via: Via::Direct,
                })
            })
            .collect();
        Status {
            account: self.account(),
            device: self.options.recovering.device_key.id(),
            listen: self.swarm.listeners().cloned().collect(),
            peers,
            reachability: Reachability::Unknown,
            relays: Vec::new(),
            friends_online: 0,
            handshakes_dropped: 0,
            pulls_denied: 0,
            changes_rejected: 0,
            pulls_served: 0,
            changes_inline: 0,
            recovering: true,
            shares_received: self.collector.received(),
        }
    }

    fn connect(&mut self, addr: Multiaddr, reply: Answer<DeviceId>) {
        let target = peer_in(&addr);
        if let Some(peer) = target.filter(|p| self.swarm.is_connected(p)) {
            let _ = reply.send(device_of(&peer).ok_or_else(|| NodeError::Dial {
                addr: addr.clone(),
                reason: "not a Kith device".into(),
            }));
            return;
        }
        let opts = match target {
            Some(peer) => DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::Always)
                .build(),
            None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.pending_dials.insert(id, (addr, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(NodeError::Dial {
                    addr,
                    reason: e.to_string(),
                }));
            }
        }
    }

    fn handle_swarm_event(&mut self, event: SwarmEvent<RecoveringBehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.answer_listen_waiters();
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let addr = endpoint.get_remote_address().clone();
                if let Some((_, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(device_of(&peer_id).ok_or_else(|| NodeError::Dial {
                        addr: addr.clone(),
                        reason: "not a Kith device".into(),
                    }));
                }
                self.meet(peer_id, addr, endpoint.is_dialer());
                self.ask(peer_id);
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some((addr, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(NodeError::Dial {
                        addr,
                        reason: error.to_string(),
                    }));
                }
            }
            SwarmEvent::Behaviour(RecoveringBehaviourEvent::Recovery(event)) => {
                self.handle_recovery_event(event)
            }
            _ => {}
        }
    }

    /// Keep a peer to ask (and to redial, now and after recovery).
    fn meet(&mut self, peer: PeerId, addr: Multiaddr, dialled: bool) {
        let Some(device) = device_of(&peer) else {
            return;
        };
        if !self.known.contains_key(&peer) && self.known.len() >= MAX_ASKED_PEERS {
            return;
        }
        let addrs = self.known.entry(peer).or_default();
        // Only addresses we dialled can be dialled again (an inbound
        // connection's remote address is an ephemeral port).
        if dialled && !addrs.contains(&addr) {
            addrs.push(addr);
        }
        let remembered = KnownPeer {
            device,
            account: None,
            addrs: addrs.iter().map(ToString::to_string).collect(),
            last_seen: unix_now(),
        };
        if let Err(e) = self.options.store.remember_peer(remembered) {
            tracing::warn!(error = %e, "cannot remember a peer");
        }
    }

    fn redial(&mut self) {
        for (peer, addrs) in &self.known {
            if addrs.is_empty() || self.swarm.is_connected(peer) {
                continue;
            }
            let opts = DialOpts::peer_id(*peer)
                .addresses(addrs.clone())
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "cannot redial");
            }
        }
    }

    fn ask_everyone(&mut self) {
        let connected: Vec<PeerId> = self
            .known
            .keys()
            .copied()
            .filter(|p| self.swarm.is_connected(p))
            .collect();
        for peer in connected {
            self.ask(peer);
        }
    }

    fn ask(&mut self, peer: PeerId) {
        let request = Request::Ask {
            account: self.account(),
        };
        self.swarm
            .behaviour_mut()
            .recovery
            .send_request(&peer, request);
    }

    fn handle_recovery_event(&mut self, event: request_response::Event<Request, Reply>) {
        match event {
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { response, .. },
                ..
            } => match response {
                Reply::Share { grant } => self.take_share(peer, grant),
                Reply::Refused { code } => {
                    tracing::debug!(%peer, %code, "a peer refused to be asked");
                }
                _ => {}
            },
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "ask not answered");
            }
            _ => {}
        }
    }

    fn take_share(&mut self, peer: PeerId, grant: kith_protocol::recovery::Grant) {
        let holder = grant.holder;
        match self.collector.add(grant) {
            Ok(None) => {
                tracing::info!(%peer, holder = %holder.fmt_short(), received = self.collector.received(), threshold = ?self.collector.threshold(), "a friend released a share");
            }
            Ok(Some(key)) => {
                let name = self.options.recovering.device_name.clone();
                let device_key = self.options.recovering.device_key.clone();
                let finished = DeviceCert::issue(&key, device_key.id(), &name, unix_now())
                    .map_err(|e| e.to_string())
                    .and_then(|cert| {
                        let identity = Identity {
                            account_key: Some(key),
                            device_key,
                            cert,
                        };
                        self.options
                            .home
                            .finish_recovery(&identity)
                            .map_err(|e| e.to_string())
                    });
                match finished {
                    Ok(()) => {
                        tracing::info!(account = %self.account(), "account recovered from friends' shares");
                        self.recovered = true;
                    }
                    Err(e) => tracing::error!(error = %e, "cannot write the recovered account"),
                }
            }
            Err(e) => tracing::warn!(%peer, error = %e, "a share did not verify"),
        }
    }

    fn answer_listen_waiters(&mut self) {
        let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
        if addrs.is_empty() {
            return;
        }
        for waiter in self.listen_waiters.drain(..) {
            let _ = waiter.send(Ok(addrs.clone()));
        }
    }
}
