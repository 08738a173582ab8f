//! `NodeActor`: the one task that owns the swarm, the store and all mutable node state.
//!
//! Its loop takes commands from `Node` handles first (`biased`), then swarm
//! events; each arm calls one `handle_*` function. Nothing here blocks: a
//! request that needs the network answers later through its stored reply.

mod dial;
mod hello;
mod peers;
mod swarm_events;

use std::collections::HashMap;

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

use self::peers::Peers;

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
            store: options.store,
            identity: options.identity,
            commands,
            events,
            peers: Peers::default(),
            pending_dials: HashMap::new(),
            listeners: listeners.into_iter().map(|id| (id, Vec::new())).collect(),
            listen_waiters: Vec::new(),
            bootstrap: options.bootstrap,
        }
    }

    pub(crate) async fn run(mut self) {
        let span = tracing::info_span!("node", me = %self.identity.device().fmt_short());
        async move {
            tracing::info!(account = %self.identity.account(), device = %self.identity.device(), "node started");
            self.dial_at_start();
            let shutdown_reply = loop {
                tokio::select! {
                    biased;
                    command = self.commands.recv() => match command {
                        Some(Command::Shutdown(reply)) => break Some(reply),
                        Some(command) => self.handle_command(command),
                        None => break None,
                    },
                    event = self.swarm.select_next_some() => self.handle_swarm_event(event),
                }
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
            Command::Connect(addr, reply) => self.handle_connect(addr, reply),
            Command::WaitListening(reply) => {
                self.listen_waiters.push(reply);
                self.answer_listen_waiters();
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
            friends_online: 0,
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

impl From<crate::store::StoreError> for NodeError {
    fn from(e: crate::store::StoreError) -> Self {
        NodeError::Store(e.to_string())
    }
}
