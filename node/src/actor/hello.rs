//! `/kith/hello/1` on the actor side: present our certificate, judge the peer's.

use std::time::Instant;

use kith_protocol::hello::Hello;
use libp2p::{PeerId, request_response};

use super::NodeActor;
use crate::{events::Event, net::device_of, store::KnownPeer};

const AGENT: &str = concat!("kith/", env!("CARGO_PKG_VERSION"));

impl NodeActor {
    fn own_hello(&self) -> Hello {
        Hello::new(self.identity.cert.clone(), AGENT)
    }

    /// Called on the first connection to a peer.
    pub(super) fn send_hello(&mut self, peer: PeerId) {
        let hello = self.own_hello();
        self.tap(&peer, "hello", || kith_protocol::wire_bytes(&hello));
        self.swarm.behaviour_mut().hello.send_request(&peer, hello);
    }

    pub(super) fn handle_hello_event(&mut self, event: request_response::Event<Hello, Hello>) {
        use request_response::{Event as E, Message};
        match event {
            E::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if self.judge_hello(peer, &request) {
                    let hello = self.own_hello();
                    self.tap(&peer, "hello", || kith_protocol::wire_bytes(&hello));
                    // Fails only if the peer already closed the stream.
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .hello
                        .send_response(channel, hello);
                }
            }
            E::Message {
                peer,
                message: Message::Response { response, .. },
                ..
            } => {
                self.judge_hello(peer, &response);
            }
            E::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "hello not answered (not a Kith node, or gone)");
            }
            E::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound hello failed");
            }
            E::ResponseSent { .. } => {}
        }
    }

    /// Accept the peer's account or throw the peer out. Returns whether accepted.
    fn judge_hello(&mut self, peer: PeerId, hello: &Hello) -> bool {
        let Some(device) = device_of(&peer) else {
            self.reject_peer(peer, "peer id is not an ed25519 device key".into());
            return false;
        };
        match hello.check(&device) {
            Ok(account) if self.is_revoked(&account, &device) => {
                self.reject_peer(peer, format!("device {device} of {account} is revoked"));
                false
            }
            Ok(account) => {
                if self.peers.identified(&peer, account) {
                    tracing::info!(device = %device.fmt_short(), account = %account.fmt_short(), agent = %hello.agent, "peer identified");
                    self.remember_peer(peer);
                    self.emit(Event::PeerConnected { device, account });
                    self.account_connected(account);
                }
                true
            }
            Err(e) => {
                self.reject_peer(peer, e.to_string());
                false
            }
        }
    }

    /// Close every connection to a misbehaving peer and refuse it for a while.
    pub(super) fn reject_peer(&mut self, peer: PeerId, reason: String) {
        tracing::warn!(%peer, %reason, "rejecting peer");
        self.peers.reject(peer, Instant::now());
        self.swarm.behaviour_mut().kad.remove_peer(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
        if let Some(device) = device_of(&peer) {
            self.emit(Event::PeerRejected { device, reason });
        }
    }

    /// Write an identified peer's addresses to the address book, if it is
    /// one this node dials again: its own devices, friends, introduced
    /// peers. Strangers are not remembered (a flood of them would push
    /// friends out, and their addresses are nobody's business).
    pub(super) fn remember_peer(&mut self, peer: PeerId) {
        let Some(entry) = self.peers.get(&peer) else {
            return;
        };
        let (Some(device), Some(account)) = (entry.device, entry.account) else {
            return;
        };
        let wanted = entry.introduced
            || account == self.identity.account()
            || kith_crdt::friends::is_friend(self.docs.own(kith_crdt::DocKind::Friends), &account);
        if !wanted {
            return;
        }
        let addrs: Vec<String> = entry.listen_addrs.iter().map(ToString::to_string).collect();
        if addrs.is_empty() {
            return;
        }
        let known = KnownPeer {
            device,
            account: Some(account),
            addrs,
            last_seen: crate::unix_now(),
        };
        if let Err(e) = self.store.remember_peer(known) {
            tracing::error!(error = %e, "cannot write the address book");
        }
    }
}
