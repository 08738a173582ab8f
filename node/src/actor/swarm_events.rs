//! The actor's reactions to swarm events, one `handle_*` per behaviour.

use std::time::Instant;

use libp2p::{
    identify, mdns,
    swarm::{
        SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
};

use super::{NodeActor, peers::MAX_STRANGER_PEERS};
use crate::{
    events::Event,
    net::{BehaviourEvent, device_of},
    store::MAX_ADDRS_PER_PEER,
};

impl NodeActor {
    pub(super) fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.handle_behaviour_event(event),
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                tracing::info!(%address, "listening");
                self.note_listen_addr(listener_id, &address);
                if let Some(addrs) = self.listeners.get_mut(&listener_id) {
                    addrs.push(address);
                }
                self.answer_listen_waiters();
            }
            SwarmEvent::ExpiredListenAddr {
                listener_id,
                address,
            } => {
                if let Some(addrs) = self.listeners.get_mut(&listener_id) {
                    addrs.retain(|a| a != &address);
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                if let Err(e) = reason {
                    tracing::warn!(?addresses, error = %e, "a listener closed");
                }
                self.listeners.remove(&listener_id);
                self.note_listener_closed(listener_id);
                self.answer_listen_waiters();
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "listener error");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.peers.is_rejected(&peer_id, Instant::now()) {
                    tracing::debug!(peer = %peer_id, "dropping a connection from a rejected peer");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    self.dial_refused(connection_id);
                    return;
                }
                tracing::debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connection established");
                self.peers.connection_opened(
                    peer_id,
                    connection_id,
                    endpoint.get_remote_address().clone(),
                    endpoint.is_relayed(),
                    Instant::now(),
                );
                self.dial_succeeded(connection_id, peer_id);
                self.note_probe_server(peer_id, &endpoint);
                if num_established.get() == 1 {
                    self.send_hello(peer_id);
                    self.enforce_stranger_cap();
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                cause,
                ..
            } => {
                tracing::debug!(peer = %peer_id, cause = ?cause, "connection closed");
                if self.peers.connection_closed(&peer_id, connection_id) {
                    self.replication.budgets.remove(&peer_id);
                    self.swarm.behaviour_mut().autonat.remove_server(&peer_id);
                    if let Some(device) = device_of(&peer_id) {
                        self.emit(Event::PeerDisconnected { device });
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                tracing::debug!(peer = ?peer_id, %error, "dial failed");
                self.dial_failed(connection_id, &error);
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::debug!(from = %send_back_addr, %error, "incoming connection failed");
            }
            _ => {}
        }
    }

    /// Keep at most `MAX_STRANGER_PEERS` peers that are neither this
    /// account, a friend nor introduced, disconnecting the longest-connected
    /// first; and disconnect peers silent past `HELLO_DEADLINE`.
    pub(super) fn enforce_stranger_cap(&mut self) {
        let me = self.identity.account();
        let friends_doc = self.docs.own(kith_crdt::DocKind::Friends);
        let strangers = self.peers.strangers(|p| {
            p.account
                .is_some_and(|a| a == me || kith_crdt::friends::is_friend(friends_doc, &a))
        });
        let excess = strangers.len().saturating_sub(MAX_STRANGER_PEERS);
        for peer in strangers.into_iter().take(excess) {
            tracing::debug!(%peer, "too many strangers connected; disconnecting the oldest");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Disconnect peers that never proved an account.
    pub(super) fn drop_silent_peers(&mut self, now: Instant) {
        for peer in self.peers.silent(now) {
            tracing::debug!(%peer, "no hello in time; disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn handle_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Hello(event) => self.handle_hello_event(event),
            BehaviourEvent::Identify(event) => self.handle_identify_event(event),
            BehaviourEvent::Mdns(event) => self.handle_mdns_event(event),
            BehaviourEvent::Autonat(event) => self.handle_autonat_event(event),
            BehaviourEvent::Kad(event) => self.handle_kad_event(event),
            BehaviourEvent::Friend(event) => self.handle_friend_event(event),
            BehaviourEvent::Sync(event) => self.handle_sync_event(event),
            BehaviourEvent::Pair(event) => self.handle_pair_event(event),
            BehaviourEvent::Recovery(event) => self.handle_recovery_event(event),
            BehaviourEvent::Gossipsub(event) => self.handle_gossip_event(event),
            BehaviourEvent::RelayClient(event) => self.handle_relay_client_event(event),
            BehaviourEvent::RelayServer(event) => tracing::debug!(?event, "relay server"),
            BehaviourEvent::Dcutr(event) => tracing::debug!(?event, "hole punching"),
            _ => {}
        }
    }

    fn handle_identify_event(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        self.note_protocols(peer_id, &info.protocols, &info.listen_addrs);
        if info.protocol_version != crate::net::IDENTIFY_PROTOCOL {
            tracing::debug!(peer = %peer_id, version = %info.protocol_version, "peer is not a Kith node");
        }
        if info.protocols.contains(&crate::net::KAD_PROTOCOL) {
            for addr in &info.listen_addrs {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer_id, addr.clone());
            }
        }
        let addrs = info
            .listen_addrs
            .into_iter()
            .take(MAX_ADDRS_PER_PEER)
            .collect();
        self.peers.set_listen_addrs(&peer_id, addrs);
        self.remember_peer(peer_id);
    }

    fn handle_mdns_event(&mut self, event: mdns::Event) {
        let mdns::Event::Discovered(found) = event else {
            return;
        };
        let now = Instant::now();
        for (peer, addr) in found {
            if self.swarm.is_connected(&peer) || self.peers.is_rejected(&peer, now) {
                continue;
            }
            tracing::debug!(%peer, %addr, "found on the local network");
            let opts = DialOpts::peer_id(peer)
                .addresses(vec![addr])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "cannot dial mDNS peer");
            }
        }
    }
}
