//! Reachability: whether others can dial this node (AutoNAT), relay
//! reservations held while they cannot, and the public side of `--relay`.
//!
//! A node behind a NAT keeps reservations on up to [`WANTED_RELAYS`] relay
//! nodes (peers whose identify lists the circuit-relay hop protocol: its
//! bootstrap peers, friends' public nodes). Each reservation gives it a
//! relayed address (`…/p2p/RELAY/p2p-circuit`), which goes into its tickets,
//! its DHT records and identify, so others can reach it; DCUtR then tries to
//! turn a relayed connection into a direct one (hole punching). When a
//! relay goes away, the next tick reserves on another.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use libp2p::{
    Multiaddr, PeerId, autonat,
    core::{ConnectedPoint, transport::ListenerId},
    multiaddr::Protocol,
    relay,
};

use super::{NodeActor, peers::is_relayed};
use crate::node::Reachability;

/// Relay reservations a node behind a NAT keeps.
pub const WANTED_RELAYS: usize = 2;

/// How long a reservation may stay unanswered before it is tried elsewhere.
pub const RESERVATION_TIMEOUT: Duration = Duration::from_secs(20);

/// The circuit relay v2 hop protocol, as identify lists it.
const HOP_PROTOCOL: &str = "/libp2p/circuit/relay/0.2.0/hop";

/// Most relay candidates remembered.
const MAX_RELAY_CANDIDATES: usize = 64;

/// The actor's reachability state.
#[derive(Debug)]
pub(super) struct Reach {
    /// Serving as a public relay node (`--relay`).
    pub relay_mode: bool,
    pub status: Reachability,
    /// Peers that offer the relay hop protocol, with an address to reach them.
    candidates: HashMap<PeerId, Multiaddr>,
    /// Reservations asked for or held: relay → (listener, when asked,
    /// the relayed address once accepted).
    reservations: HashMap<PeerId, (ListenerId, Instant, Option<Multiaddr>)>,
    /// Relays that failed us recently (tried last).
    failed: HashSet<PeerId>,
}

impl Reach {
    pub fn new(relay_mode: bool) -> Self {
        Reach {
            relay_mode,
            status: if relay_mode {
                Reachability::Public
            } else {
                Reachability::Unknown
            },
            candidates: HashMap::new(),
            reservations: HashMap::new(),
            failed: HashSet::new(),
        }
    }

    /// Whether we asked `relay` for a reservation or hold one there.
    pub fn relies_on(&self, relay: &PeerId) -> bool {
        self.reservations.contains_key(relay)
    }

    /// The relayed addresses of the reservations held.
    pub fn relayed_addrs(&self) -> Vec<Multiaddr> {
        self.reservations
            .values()
            .filter_map(|(_, _, addr)| addr.clone())
            .collect()
    }
}

impl NodeActor {
    pub(super) fn handle_autonat_event(&mut self, event: autonat::Event) {
        let autonat::Event::StatusChanged { old, new } = event else {
            return;
        };
        tracing::info!(?old, ?new, "reachability changed");
        if self.reach.relay_mode {
            return;
        }
        self.reach.status = match new {
            autonat::NatStatus::Public(_) => Reachability::Public,
            autonat::NatStatus::Private => Reachability::Private,
            autonat::NatStatus::Unknown => Reachability::Unknown,
        };
        self.maintain_relays();
    }

    pub(super) fn handle_relay_client_event(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted { relay_peer_id, .. } => {
                tracing::info!(relay = %relay_peer_id, "relay reservation accepted");
                self.reach.failed.remove(&relay_peer_id);
            }
            other => tracing::debug!(?other, "relay client"),
        }
    }

    /// A peer reached over the wider network may probe our reachability; one
    /// on this host or our own network (loopback, private, link-local,
    /// carrier-grade NAT ranges) or through a relay tells nothing about it.
    pub(super) fn note_probe_server(&mut self, peer: PeerId, endpoint: &ConnectedPoint) {
        if !endpoint.is_relayed() && is_beyond_our_network(endpoint.get_remote_address()) {
            self.swarm.behaviour_mut().autonat.add_server(peer, None);
        }
    }

    /// A listen address appeared: a relayed one means a reservation holds.
    pub(super) fn note_listen_addr(&mut self, listener: ListenerId, addr: &Multiaddr) {
        if let Some((_, _, held)) = self
            .reach
            .reservations
            .values_mut()
            .find(|(id, _, _)| *id == listener)
        {
            *held = Some(addr.clone());
            // Friends looking us up by account id should find this address.
            self.publish_records_if_due(true);
        }
        // A public relay node announces the specific addresses it listens
        // on as reachable (the relay server only advertises itself once it
        // has a confirmed external address).
        if self.reach.relay_mode && is_specific(addr) && !is_relayed(addr) {
            self.swarm.add_external_address(addr.clone());
        }
    }

    /// A listener closed: if it was a relay reservation, try another.
    pub(super) fn note_listener_closed(&mut self, listener: ListenerId) {
        let gone: Vec<PeerId> = self
            .reach
            .reservations
            .iter()
            .filter(|(_, (id, _, _))| *id == listener)
            .map(|(peer, _)| *peer)
            .collect();
        for relay in gone {
            tracing::info!(%relay, "relay reservation ended");
            self.reach.reservations.remove(&relay);
            self.reach.failed.insert(relay);
        }
        self.maintain_relays();
    }

    /// Identify told us what a peer offers: remember relays.
    pub(super) fn note_protocols(
        &mut self,
        peer: PeerId,
        protocols: &[libp2p::StreamProtocol],
        listen: &[Multiaddr],
    ) {
        if !protocols.iter().any(|p| p.as_ref() == HOP_PROTOCOL) {
            return;
        }
        let addr = listen
            .iter()
            .find(|a| is_specific(a) && !is_relayed(a))
            .cloned()
            .or_else(|| self.peers.get(&peer).map(|p| p.addr.clone()));
        if let Some(addr) = addr
            && (self.reach.candidates.len() < MAX_RELAY_CANDIDATES
                || self.reach.candidates.contains_key(&peer))
        {
            self.reach.candidates.insert(peer, addr);
        }
        self.maintain_relays();
    }

    /// Keep up to [`WANTED_RELAYS`] reservations while this node is not
    /// publicly reachable; drop unanswered ones after
    /// [`RESERVATION_TIMEOUT`]. Called on relevant events and every tick.
    pub(super) fn maintain_relays(&mut self) {
        if self.reach.relay_mode {
            return;
        }
        let now = Instant::now();
        let stale: Vec<(PeerId, ListenerId)> = self
            .reach
            .reservations
            .iter()
            .filter(|(peer, (_, asked, held))| {
                (held.is_none() && now.duration_since(*asked) > RESERVATION_TIMEOUT)
                    || !self.swarm.is_connected(peer)
                        && held.is_none()
                        && now.duration_since(*asked) > Duration::from_secs(5)
            })
            .map(|(peer, (id, _, _))| (*peer, *id))
            .collect();
        for (relay, listener) in stale {
            self.swarm.remove_listener(listener);
            self.reach.reservations.remove(&relay);
            self.reach.failed.insert(relay);
        }
        if self.reach.status == Reachability::Public {
            return;
        }
        let mut candidates: Vec<(PeerId, Multiaddr)> = self
            .reach
            .candidates
            .iter()
            .filter(|(peer, _)| !self.reach.reservations.contains_key(peer))
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        // Connected ones first, then ones that have not failed us.
        candidates.sort_by_key(|(peer, _)| {
            (
                !self.swarm.is_connected(peer),
                self.reach.failed.contains(peer),
            )
        });
        for (relay, addr) in candidates {
            if self.reach.reservations.len() >= WANTED_RELAYS {
                break;
            }
            let mut circuit = without_peer(addr);
            circuit.push(Protocol::P2p(relay));
            circuit.push(Protocol::P2pCircuit);
            match self.swarm.listen_on(circuit.clone()) {
                Ok(listener) => {
                    tracing::info!(%relay, "asking for a relay reservation");
                    self.reach.reservations.insert(relay, (listener, now, None));
                }
                Err(e) => {
                    tracing::debug!(%relay, error = %e, "cannot listen through a relay");
                    self.reach.failed.insert(relay);
                }
            }
        }
    }
}

/// An address with a specific (not unspecified, not loopback) IP.
fn is_specific(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => !ip.is_unspecified() && !ip.is_loopback(),
        Protocol::Ip6(ip) => !ip.is_unspecified() && !ip.is_loopback(),
        _ => false,
    })
}

/// Whether `addr` is on a network beyond this host and its LAN: not
/// loopback, unspecified, private (RFC 1918, IPv6 unique-local),
/// link-local or carrier-grade NAT (100.64.0.0/10).
fn is_beyond_our_network(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => {
            let cgnat = ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64;
            !(ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || cgnat)
        }
        Protocol::Ip6(ip) => {
            let segment = ip.segments()[0];
            let unique_local = (segment & 0xfe00) == 0xfc00;
            let link_local = (segment & 0xffc0) == 0xfe80;
            !(ip.is_unspecified() || ip.is_loopback() || unique_local || link_local)
        }
        _ => false,
    })
}

/// `addr` without a trailing `/p2p/…`.
fn without_peer(mut addr: Multiaddr) -> Multiaddr {
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beyond(addr: &str) -> bool {
        is_beyond_our_network(&addr.parse().expect("a multiaddr"))
    }

    #[test]
    fn only_peers_beyond_our_network_probe_our_reachability() {
        for near in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip4/192.168.2.2/tcp/1",
            "/ip4/10.0.0.7/udp/1/quic-v1",
            "/ip4/172.16.5.1/tcp/1",
            "/ip4/169.254.1.1/tcp/1",
            "/ip4/100.64.0.1/tcp/1",
            "/ip4/0.0.0.0/tcp/1",
            "/ip6/::1/tcp/1",
            "/ip6/fe80::1/tcp/1",
            "/ip6/fd00::1/tcp/1",
            "/dns4/example.org/tcp/1",
        ] {
            assert!(!beyond(near), "{near} is on our own network");
        }
        for far in [
            "/ip4/198.51.100.10/tcp/4001",
            "/ip4/203.0.113.9/udp/1/quic-v1",
            "/ip4/100.128.0.1/tcp/1",
            "/ip6/2001:db8::1/tcp/1",
        ] {
            assert!(beyond(far), "{far} is beyond our network");
        }
    }
}
