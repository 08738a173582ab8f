//! Dialling: `connect` requests, peers remembered from earlier runs, bootstrap peers.

use libp2p::{
    Multiaddr, PeerId,
    swarm::{
        ConnectionId, DialError,
        dial_opts::{DialOpts, PeerCondition},
    },
};

use super::NodeActor;
use crate::{
    net::{device_of, peer_in, peer_of},
    node::{MAX_REDIAL_AT_START, NodeError, Reply},
};

impl NodeActor {
    pub(super) fn handle_connect(&mut self, addr: Multiaddr, reply: Reply<kith_keys::DeviceId>) {
        let target = peer_in(&addr);
        if target == Some(*self.swarm.local_peer_id()) {
            let _ = reply.send(Err(NodeError::DialSelf(addr)));
            return;
        }
        // Already connected to the named peer: nothing to wait for.
        if let Some(peer) = target.filter(|p| self.swarm.is_connected(p)) {
            let _ = reply.send(device_of(&peer).ok_or_else(|| not_a_device(&addr)));
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
                let _ = reply.send(Err(dial_error(addr, &e)));
            }
        }
    }

    /// A connection came up: answer the `connect` that asked for it, if any.
    pub(super) fn dial_succeeded(&mut self, id: ConnectionId, peer: PeerId) {
        if let Some((addr, reply)) = self.pending_dials.remove(&id) {
            self.peers.introduce(&peer);
            let _ = reply.send(device_of(&peer).ok_or_else(|| not_a_device(&addr)));
        }
    }

    pub(super) fn dial_failed(&mut self, id: ConnectionId, error: &DialError) {
        if let Some((addr, reply)) = self.pending_dials.remove(&id) {
            let _ = reply.send(Err(dial_error(addr, error)));
        }
    }

    /// A dial reached a peer that is refused for now (bad certificate).
    pub(super) fn dial_refused(&mut self, id: ConnectionId) {
        if let Some((addr, reply)) = self.pending_dials.remove(&id) {
            let reason =
                "that peer presented an invalid certificate recently and is refused".into();
            let _ = reply.send(Err(NodeError::Dial { addr, reason }));
        }
    }

    /// Bootstrap peers and the most recently seen remembered peers.
    pub(super) fn dial_at_start(&mut self) {
        for addr in self.bootstrap.clone() {
            if let Some(peer) = peer_in(&addr) {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
        let known = match self.store.known_peers() {
            Ok((peers, corrupt)) => {
                for e in corrupt {
                    tracing::warn!(error = %e, "skipping a corrupt address-book record");
                }
                peers
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the address book");
                Vec::new()
            }
        };
        for known in known.into_iter().take(MAX_REDIAL_AT_START) {
            let addrs: Vec<Multiaddr> = known.addrs.iter().filter_map(|a| a.parse().ok()).collect();
            if addrs.is_empty() {
                continue;
            }
            let opts = DialOpts::peer_id(peer_of(&known.device))
                .addresses(addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(device = %known.device, error = %e, "cannot redial remembered peer");
            }
        }
        if !self.bootstrap.is_empty()
            && let Err(e) = self.swarm.behaviour_mut().kad.bootstrap()
        {
            tracing::debug!(error = %e, "kademlia bootstrap not started");
        }
    }
}

fn not_a_device(addr: &Multiaddr) -> NodeError {
    NodeError::Dial {
        addr: addr.clone(),
        reason: "the peer is not a Kith device (not an ed25519 key)".into(),
    }
}

fn dial_error(addr: Multiaddr, error: &DialError) -> NodeError {
    match error {
        DialError::LocalPeerId { .. } => NodeError::DialSelf(addr),
        DialError::Transport(errors) => {
            let reason = errors
                .iter()
                .map(|(_, e)| transport_reason(e))
                .next()
                .unwrap_or_else(|| "no transport could reach it".into());
            NodeError::Dial { addr, reason }
        }
        other => NodeError::Dial {
            addr,
            reason: other.to_string(),
        },
    }
}

/// The innermost cause of a transport error ("Connection refused"), which is
/// what a person can act on, rather than libp2p's nested wrappers.
fn transport_reason(error: &libp2p::TransportError<std::io::Error>) -> String {
    match error {
        libp2p::TransportError::MultiaddrNotSupported(a) => {
            format!("no transport for address {a} (use /ip4/…/tcp/PORT or /ip4/…/udp/PORT/quic-v1)")
        }
        libp2p::TransportError::Other(e) => {
            let mut cause: &dyn std::error::Error = e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            cause.to_string()
        }
    }
}
