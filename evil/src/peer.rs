//! `Hostile`: a libp2p node that speaks Kith's protocols with its own identity, and lies.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use kith_keys::{AccountId, sign::Context};
use kith_node::{
    Identity,
    net::{BehaviourEvent, SwarmSettings, build_swarm},
};
use kith_protocol::{
    friend::{Action, Body, Reply, Signed},
    hello::Hello,
    sync::{self, Announcement, SyncRequest, SyncResponse},
};
use libp2p::{
    Multiaddr, PeerId, Swarm, gossipsub,
    request_response::{self, OutboundRequestId},
    swarm::SwarmEvent,
};

/// How a hostile peer answers the victim's pulls.
pub type Server = Box<dyn FnMut(&SyncRequest) -> SyncResponse + Send>;

/// What came back from the victim to one of our requests.
#[derive(Debug)]
pub enum Answer {
    Sync(SyncResponse),
    Friend(Reply),
    Failed(String),
}

/// One hostile node connected to its victim.
pub struct Hostile {
    pub swarm: Swarm<kith_node::net::Behaviour>,
    pub identity: Identity,
    pub target: PeerId,
    /// The victim's account, once its hello arrived.
    pub target_account: Option<AccountId>,
    serve: Option<Server>,
    /// Answers to our requests, in arrival order.
    pub answers: Vec<(OutboundRequestId, Answer)>,
    /// Pulls the victim sent us, and bytes we answered them with.
    pub served: u64,
    pub served_bytes: u64,
    connected: bool,
}

impl Hostile {
    /// A node with a fresh account (a new Sybil each time).
    pub fn fresh() -> anyhow::Result<Self> {
        Self::with_identity(Identity::generate("evil", kith_node::unix_now())?)
    }

    pub fn with_identity(identity: Identity) -> anyhow::Result<Self> {
        let settings = SwarmSettings {
            mdns: false,
            dht_server: false,
            relay: false,
        };
        let swarm = build_swarm(&identity.device_key, &settings)?;
        Ok(Hostile {
            swarm,
            identity,
            target: PeerId::random(),
            target_account: None,
            serve: None,
            answers: Vec::new(),
            served: 0,
            served_bytes: 0,
            connected: false,
        })
    }

    /// Answer the victim's sync requests with `serve`.
    pub fn serving(mut self, serve: Server) -> Self {
        self.serve = Some(serve);
        self
    }

    /// Dial `addr`, then exchange hellos. With `hello = false` the
    /// connection stays silent (a connection flood).
    pub async fn connect(
        &mut self,
        addr: &Multiaddr,
        hello: bool,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        self.swarm.dial(addr.clone()).context("dial")?;
        let deadline = Instant::now() + timeout;
        while !self.connected {
            self.step(deadline).await?;
        }
        if hello {
            let hello = Hello::new(self.identity.cert.clone(), "kith-evil");
            self.swarm
                .behaviour_mut()
                .hello
                .send_request(&self.target, hello);
            while self.target_account.is_none() {
                self.step(deadline).await?;
            }
        }
        Ok(())
    }

    pub fn is_connected(&self) -> bool {
        self.connected && self.swarm.is_connected(&self.target)
    }

    /// Run the swarm until `until`, answering what comes in.
    pub async fn run_until(&mut self, until: Instant) {
        while Instant::now() < until {
            if self.step(until).await.is_err() {
                return;
            }
        }
    }

    /// Run until the answer to `id` arrives (or `timeout`).
    pub async fn wait_answer(
        &mut self,
        id: OutboundRequestId,
        timeout: Duration,
    ) -> Option<Answer> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.answers.iter().position(|(a, _)| *a == id) {
                return Some(self.answers.remove(i).1);
            }
            if self.step(deadline).await.is_err() {
                return None;
            }
        }
    }

    /// One swarm event, handled; an error once `deadline` passes or the
    /// victim is gone.
    pub async fn step(&mut self, deadline: Instant) -> anyhow::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("timed out");
        }
        let event = tokio::time::timeout(left, self.swarm.select_next_some())
            .await
            .map_err(|_| anyhow::anyhow!("timed out"))?;
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                self.target = peer_id;
                self.connected = true;
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if peer_id == self.target => {
                self.connected = false;
                bail!("the victim closed the connection");
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                bail!("cannot connect: {error}");
            }
            SwarmEvent::Behaviour(event) => self.handle(event),
            _ => {}
        }
        Ok(())
    }

    fn handle(&mut self, event: BehaviourEvent) {
        use request_response::{Event as E, Message};
        match event {
            BehaviourEvent::Hello(E::Message { peer, message, .. }) => match message {
                Message::Request {
                    request, channel, ..
                } => {
                    if let Ok(account) = request.check(&device_of(&peer)) {
                        self.target_account = Some(account);
                    }
                    let hello = Hello::new(self.identity.cert.clone(), "kith-evil");
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .hello
                        .send_response(channel, hello);
                }
                Message::Response { response, .. } => {
                    if let Ok(account) = response.check(&device_of(&peer)) {
                        self.target_account = Some(account);
                    }
                }
            },
            BehaviourEvent::Sync(E::Message { message, .. }) => match message {
                Message::Request {
                    request, channel, ..
                } => {
                    let response = match self.serve.as_mut() {
                        Some(serve) => serve(&request),
                        None => SyncResponse::Busy,
                    };
                    self.served += 1;
                    self.served_bytes += wire_len(&response);
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response);
                }
                Message::Response {
                    request_id,
                    response,
                } => self.answers.push((request_id, Answer::Sync(response))),
            },
            BehaviourEvent::Sync(E::OutboundFailure {
                request_id, error, ..
            }) => self
                .answers
                .push((request_id, Answer::Failed(error.to_string()))),
            BehaviourEvent::Friend(E::Message { message, .. }) => match message {
                Message::Request { channel, .. } => {
                    let reply = Reply::Refused {
                        code: "busy".into(),
                    };
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .friend
                        .send_response(channel, reply);
                }
                Message::Response {
                    request_id,
                    response,
                } => self.answers.push((request_id, Answer::Friend(response))),
            },
            BehaviourEvent::Friend(E::OutboundFailure {
                request_id, error, ..
            }) => self
                .answers
                .push((request_id, Answer::Failed(error.to_string()))),
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                message_id,
                propagation_source,
                ..
            }) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        gossipsub::MessageAcceptance::Ignore,
                    );
            }
            _ => {}
        }
    }

    /// Subscribe to `account`'s topic and wait (at most `timeout`) until the
    /// victim is known to follow it, so publishing reaches it.
    pub async fn join_topic(
        &mut self,
        account: &AccountId,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let topic = gossipsub::IdentTopic::new(sync::topic(account));
        self.swarm.behaviour_mut().gossipsub.subscribe(&topic)?;
        let hash = topic.hash();
        let deadline = Instant::now() + timeout;
        loop {
            let follows = self
                .swarm
                .behaviour()
                .gossipsub
                .all_peers()
                .any(|(peer, topics)| *peer == self.target && topics.contains(&&hash));
            if follows {
                return Ok(());
            }
            self.step(deadline)
                .await
                .with_context(|| format!("the victim does not follow {account}"))?;
        }
    }

    /// Publish raw bytes on `account`'s topic; their size if sent.
    pub fn publish(&mut self, account: &AccountId, bytes: Vec<u8>) -> Option<u64> {
        let topic = gossipsub::IdentTopic::new(sync::topic(account));
        let len = bytes.len() as u64;
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, bytes)
            .ok()
            .map(|_| len)
    }

    /// An announcement signed by this node's own device (valid signature,
    /// but from a device that may not hold the document).
    pub fn sign_announcement(&self, announcement: &Announcement) -> Vec<u8> {
        let key = &self.identity.device_key;
        announcement.seal(|body| key.sign(Context::Announcement, body))
    }

    pub fn send_sync(&mut self, request: SyncRequest) -> (OutboundRequestId, u64) {
        let len = request.wire_len();
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&self.target, request);
        (id, len)
    }

    /// Seal a handshake `action` to `to` as this node, timestamped now.
    pub fn seal(&self, to: AccountId, action: Action) -> Signed {
        let mut nonce = [0u8; 16];
        let _ = getrandom::fill(&mut nonce);
        let body = Body {
            from: self.identity.account(),
            to,
            at: kith_node::unix_now(),
            nonce,
            action,
        };
        let key = &self.identity.device_key;
        Signed::seal(&body, self.identity.cert.clone(), |bytes| {
            key.sign(Context::FriendHandshake, bytes)
        })
    }

    pub fn send_friend(&mut self, message: Signed) -> (OutboundRequestId, u64) {
        let len = message.to_bytes().len() as u64;
        let id = self
            .swarm
            .behaviour_mut()
            .friend
            .send_request(&self.target, message);
        (id, len)
    }
}

fn device_of(peer: &PeerId) -> kith_keys::DeviceId {
    kith_node::net::device_of(peer).unwrap_or_else(|| kith_keys::DeviceKey::generate().id())
}

/// Bytes of a sync response on the wire.
pub fn wire_len(response: &SyncResponse) -> u64 {
    cbor4ii::serde::to_vec(Vec::new(), response)
        .map(|b| b.len() as u64)
        .unwrap_or(0)
}
