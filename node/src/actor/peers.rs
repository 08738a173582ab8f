//! The actor's table of connected peers and of peers it has recently thrown out.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use kith_keys::{AccountId, DeviceId};
use libp2p::{Multiaddr, PeerId, multiaddr::Protocol, swarm::ConnectionId};

use crate::{
    net::device_of,
    node::{PeerStatus, Via},
};

/// Whether a connection's address goes through a circuit relay.
pub(super) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

/// How long a peer that presented a bad certificate is refused.
pub const REJECT_FOR: Duration = Duration::from_secs(10 * 60);

/// Most rejected peers remembered; past it the oldest are forgotten first.
pub const MAX_REJECTED: usize = 1024;

/// Most connected peers that are neither this account, a friend nor
/// introduced (DHT and mDNS contacts, peers still to prove who they are,
/// strangers): past it the one connected longest is disconnected, so a
/// flood of connections cannot crowd out friends.
pub const MAX_STRANGER_PEERS: usize = 64;

/// How old a surplus direct connection to a peer gets before it is closed
/// (long enough for the AutoNAT probe that dialled it back to finish).
pub const SURPLUS_GRACE: Duration = Duration::from_secs(5);

/// How long a peer has to prove its account (`/kith/hello/1`) before it is
/// disconnected.
pub const HELLO_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug)]
pub(super) struct Peer {
    /// `None` for peers whose key is not ed25519: not Kith devices.
    pub device: Option<DeviceId>,
    pub account: Option<AccountId>,
    pub addr: Multiaddr,
    /// What the peer says it listens on (identify), for dialling it again.
    pub listen_addrs: Vec<Multiaddr>,
    /// Open connections.
    pub connections: HashMap<ConnectionId, Link>,
    /// Reached through an explicit `connect` (not the DHT or mDNS): a
    /// stranger we follow and whose public documents we keep.
    pub introduced: bool,
    /// A friend's recovering device asking for a share we hold: it has no
    /// account to say hello with, and is not dropped for that.
    pub recovering: bool,
    pub connected_at: Instant,
}

/// One open connection to a peer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Link {
    /// Through a circuit relay.
    pub relayed: bool,
    pub opened: Instant,
}

#[derive(Debug, Default)]
pub(super) struct Peers {
    connected: HashMap<PeerId, Peer>,
    rejected: HashMap<PeerId, Instant>,
}

impl Peers {
    /// A connection to `peer` at `addr` opened; `relayed` if it goes
    /// through a circuit relay (libp2p's `ConnectedPoint::is_relayed`: an
    /// inbound relayed connection's remote address does not say so).
    pub fn connection_opened(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        addr: Multiaddr,
        relayed: bool,
        now: Instant,
    ) {
        let entry = self.connected.entry(peer).or_insert_with(|| Peer {
            device: device_of(&peer),
            account: None,
            addr: addr.clone(),
            listen_addrs: Vec::new(),
            connections: HashMap::new(),
            introduced: false,
            recovering: false,
            connected_at: now,
        });
        // The address shown is a direct one whenever there is one.
        if !relayed {
            entry.addr = addr;
        }
        entry.connections.insert(
            connection,
            Link {
                relayed,
                opened: now,
            },
        );
    }

    /// Direct connections beyond the oldest one to the same peer, once
    /// [`SURPLUS_GRACE`] old: an AutoNAT dial-back, a redial that raced an
    /// open connection. Each would keep its own keep-alive traffic and
    /// count against `MAX_CONNECTIONS_PER_PEER`; once that is full, every
    /// dial-back is denied and AutoNAT decides the node is unreachable
    /// (measured: two daemons on loopback flipped to `Private` after four
    /// probes and probed every 5 s from then on; kith-bench B8's idle
    /// traffic went from 33 to ~300 B/s per friend). Only the side with
    /// the smaller peer id closes them, so the two sides never close
    /// different ones. Relayed connections are left alone (DCUtR replaces
    /// them with a direct one), and so is every connection to a peer
    /// `spared` names: a relay reservation and its circuits live on one
    /// particular connection, which may not be the oldest (measured in the
    /// NAT lab: the relay closed a home node's reservation as surplus, and
    /// the home node was unreachable until it reserved again).
    pub fn surplus_connections(
        &self,
        me: &PeerId,
        now: Instant,
        spared: impl Fn(&PeerId) -> bool,
    ) -> Vec<ConnectionId> {
        let mut out = Vec::new();
        for (peer, entry) in &self.connected {
            if me >= peer || spared(peer) {
                continue;
            }
            let mut direct: Vec<(ConnectionId, Instant)> = entry
                .connections
                .iter()
                .filter(|(_, link)| !link.relayed)
                .map(|(id, link)| (*id, link.opened))
                .collect();
            direct.sort_unstable();
            out.extend(
                direct
                    .into_iter()
                    .skip(1)
                    .filter(|(_, opened)| now.duration_since(*opened) >= SURPLUS_GRACE)
                    .map(|(id, _)| id),
            );
        }
        out
    }

    /// Returns true if that was the last connection to the peer.
    pub fn connection_closed(&mut self, peer: &PeerId, connection: ConnectionId) -> bool {
        match self.connected.get_mut(peer) {
            Some(entry) => {
                entry.connections.remove(&connection);
                if entry.connections.is_empty() {
                    self.connected.remove(peer);
                    true
                } else {
                    false
                }
            }
            None => false,
        }
    }

    pub fn introduce(&mut self, peer: &PeerId) {
        if let Some(entry) = self.connected.get_mut(peer) {
            entry.introduced = true;
        }
    }

    pub fn get(&self, peer: &PeerId) -> Option<&Peer> {
        self.connected.get(peer)
    }

    pub fn set_listen_addrs(&mut self, peer: &PeerId, addrs: Vec<Multiaddr>) {
        if let Some(entry) = self.connected.get_mut(peer) {
            entry.listen_addrs = addrs;
        }
    }

    /// Record the account a peer proved; returns false if it was already known.
    pub fn identified(&mut self, peer: &PeerId, account: AccountId) -> bool {
        match self.connected.get_mut(peer) {
            Some(entry) => entry.account.replace(account) != Some(account),
            None => false,
        }
    }

    /// Connected devices that proved they belong to `account`.
    pub fn of_account<'a>(&'a self, account: &'a AccountId) -> impl Iterator<Item = PeerId> + 'a {
        self.connected
            .iter()
            .filter(|(_, p)| p.account.as_ref() == Some(account))
            .map(|(id, _)| *id)
    }

    /// Peers that are not `close`, connected longest first.
    pub fn strangers(&self, close: impl Fn(&Peer) -> bool) -> Vec<PeerId> {
        let mut strangers: Vec<(&PeerId, &Peer)> = self
            .connected
            .iter()
            .filter(|(_, p)| !p.introduced && !close(p))
            .collect();
        strangers.sort_by_key(|(_, p)| p.connected_at);
        strangers.into_iter().map(|(id, _)| *id).collect()
    }

    /// Peers that have not proven an account within [`HELLO_DEADLINE`].
    pub fn silent(&self, now: Instant) -> Vec<PeerId> {
        self.connected
            .iter()
            .filter(|(_, p)| {
                p.account.is_none()
                    && !p.recovering
                    && now.duration_since(p.connected_at) >= HELLO_DEADLINE
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// `peer` asked for a share we hold: spare it the hello deadline.
    pub fn mark_recovering(&mut self, peer: &PeerId) {
        if let Some(entry) = self.connected.get_mut(peer) {
            entry.recovering = true;
        }
    }

    pub fn reject(&mut self, peer: PeerId, now: Instant) {
        self.rejected
            .retain(|_, since| now.duration_since(*since) < REJECT_FOR);
        if self.rejected.len() >= MAX_REJECTED
            && let Some(oldest) = self
                .rejected
                .iter()
                .min_by_key(|(_, since)| **since)
                .map(|(p, _)| *p)
        {
            self.rejected.remove(&oldest);
        }
        self.rejected.insert(peer, now);
    }

    pub fn is_rejected(&self, peer: &PeerId, now: Instant) -> bool {
        self.rejected
            .get(peer)
            .is_some_and(|since| now.duration_since(*since) < REJECT_FOR)
    }

    pub fn statuses(&self) -> Vec<PeerStatus> {
        let mut out: Vec<PeerStatus> = self
            .connected
            .values()
            .filter_map(|p| {
                Some(PeerStatus {
                    device: p.device?,
                    account: p.account,
                    addr: p.addr.clone(),
                    via: if p.connections.values().any(|link| !link.relayed) {
                        Via::Direct
                    } else {
                        Via::Relayed
                    },
                })
            })
            .collect();
        out.sort_by_key(|p| p.device);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_connections_per_peer() {
        let mut peers = Peers::default();
        let p = PeerId::random();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let now = Instant::now();
        let (c1, c2) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
        );
        peers.connection_opened(p, c1, addr.clone(), false, now);
        peers.connection_opened(p, c2, addr, false, now);
        assert!(!peers.connection_closed(&p, c1));
        assert!(peers.connection_closed(&p, c2));
        assert!(peers.get(&p).is_none());
    }

    #[test]
    fn surplus_direct_connections_are_closed_by_one_side_after_a_grace() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let (me, peer) = if a < b { (a, b) } else { (b, a) };
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let relayed: Multiaddr = "/ip4/127.0.0.1/tcp/2/p2p-circuit".parse().unwrap();
        let start = Instant::now();
        let c = ConnectionId::new_unchecked;
        let mut peers = Peers::default();
        peers.connection_opened(peer, c(1), relayed, true, start);
        peers.connection_opened(peer, c(2), addr.clone(), false, start);
        peers.connection_opened(peer, c(3), addr.clone(), false, start);
        peers.connection_opened(peer, c(4), addr, false, start + SURPLUS_GRACE);
        // Only the dial-back old enough goes; the oldest direct one and
        // the relayed one stay.
        assert_eq!(
            peers.surplus_connections(&me, start + SURPLUS_GRACE, |_| false),
            vec![c(3)]
        );
        assert!(peers.surplus_connections(&me, start, |_| false).is_empty());
        // A relay (or a client of ours, on a relay node) keeps them all.
        assert!(
            peers
                .surplus_connections(&me, start + SURPLUS_GRACE, |p| *p == peer)
                .is_empty()
        );
        // The other side (the larger id) leaves them to us.
        let mut theirs = Peers::default();
        let direct: Multiaddr = "/ip4/127.0.0.1/tcp/3".parse().unwrap();
        theirs.connection_opened(me, c(7), direct.clone(), false, start);
        theirs.connection_opened(me, c(8), direct, false, start);
        assert!(
            theirs
                .surplus_connections(&peer, start + SURPLUS_GRACE * 2, |_| false)
                .is_empty()
        );
    }

    #[test]
    fn strangers_are_listed_oldest_first_and_silent_peers_found() {
        let mut peers = Peers::default();
        let start = Instant::now();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let (old, new, friend) = (PeerId::random(), PeerId::random(), PeerId::random());
        let c = ConnectionId::new_unchecked;
        peers.connection_opened(
            new,
            c(1),
            addr.clone(),
            false,
            start + Duration::from_secs(5),
        );
        peers.connection_opened(old, c(2), addr.clone(), false, start);
        peers.connection_opened(friend, c(3), addr, false, start);
        let account = kith_keys::AccountKey::from_seed(&[1; 32]).id();
        peers.identified(&friend, account);
        let strangers = peers.strangers(|p| p.account == Some(account));
        assert_eq!(strangers, vec![old, new]);
        assert!(peers.silent(start + Duration::from_secs(1)).is_empty());
        let mut silent = peers.silent(start + HELLO_DEADLINE);
        silent.sort();
        let mut expected = vec![old];
        if HELLO_DEADLINE <= Duration::from_secs(5) {
            expected.push(new);
        }
        expected.sort();
        assert_eq!(silent, expected);
    }

    #[test]
    fn a_peer_is_direct_once_any_connection_is() {
        let mut peers = Peers::default();
        let device = kith_keys::DeviceKey::from_seed(&[2; 32]).id();
        let p = crate::net::peer_of(&device);
        let relayed: Multiaddr = "/ip4/198.51.100.10/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
            .parse()
            .unwrap();
        let direct: Multiaddr = "/ip4/198.51.100.20/udp/5000/quic-v1".parse().unwrap();
        let (now, c) = (Instant::now(), ConnectionId::new_unchecked);
        let via = |peers: &Peers| peers.statuses().first().map(|s| s.via);
        peers.connection_opened(p, c(1), relayed, true, now);
        assert_eq!(via(&peers), Some(Via::Relayed));
        peers.connection_opened(p, c(2), direct.clone(), false, now);
        assert_eq!(via(&peers), Some(Via::Direct));
        assert_eq!(peers.statuses()[0].addr, direct);
        assert!(!peers.connection_closed(&p, c(2)));
        assert_eq!(via(&peers), Some(Via::Relayed));
    }

    #[test]
    fn rejection_expires_and_is_bounded() {
        let mut peers = Peers::default();
        let start = Instant::now();
        let p = PeerId::random();
        peers.reject(p, start);
        assert!(peers.is_rejected(&p, start));
        assert!(!peers.is_rejected(&p, start + REJECT_FOR));
        for _ in 0..MAX_REJECTED + 10 {
            peers.reject(PeerId::random(), start);
        }
        assert!(peers.rejected.len() <= MAX_REJECTED);
    }
}
