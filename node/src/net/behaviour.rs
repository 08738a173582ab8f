//! The one libp2p behaviour every Kith node runs, composed from the standard protocols and Kith's own.

use std::time::Duration;

use kith_protocol::{friend, hello, limits, pairing, recovery, sync};
use libp2p::{
    StreamProtocol, autonat, connection_limits, dcutr, gossipsub, identify,
    identity::Keypair,
    kad, mdns, ping, relay,
    request_response::{self, ProtocolSupport},
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
};

/// Kademlia protocol name: Kith runs its own DHT, apart from the public IPFS one.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/kith/kad/1.0.0");

/// Identify protocol version string: peers with another one are not Kith nodes.
pub const IDENTIFY_PROTOCOL: &str = "/kith/id/1.0.0";

/// Largest gossipsub message, in bytes: the largest announcement plus
/// gossipsub's own framing. Messages are anonymous to gossipsub (no source,
/// sequence number or libp2p signature): the announcement inside carries
/// Kith's own signature by the announcing device. Bulk data goes over the
/// sync protocol.
pub const MAX_GOSSIP_BYTES: usize = sync::MAX_ANNOUNCEMENT_BYTES + 1024;

/// Gossipsub's per-connection send queue, in messages. libp2p's default
/// (5,000) preallocates about 600 KB per connection; what a full queue drops
/// the sync protocol repairs.
pub const GOSSIP_QUEUE_LEN: usize = 256;

pub type HelloBehaviour =
    request_response::Behaviour<request_response::cbor::codec::Codec<hello::Hello, hello::Hello>>;

pub type FriendBehaviour = request_response::Behaviour<
    request_response::cbor::codec::Codec<friend::Signed, friend::Reply>,
>;

pub type SyncBehaviour = request_response::Behaviour<
    request_response::cbor::codec::Codec<sync::SyncRequest, sync::SyncResponse>,
>;

pub type PairBehaviour = request_response::Behaviour<
    request_response::cbor::codec::Codec<pairing::PairRequest, pairing::PairResponse>,
>;

/// The `/kith/pair/1` behaviour: `Full` on a linked device, `Outbound` on a joining one.
/// `/kith/recovery/1`: shares to friends, and a recovering device's asks.
pub type RecoveryBehaviour = request_response::Behaviour<
    request_response::cbor::codec::Codec<recovery::Request, recovery::Reply>,
>;

/// The recovery protocol; `support` is outbound only on a recovering device.
pub fn recovery_behaviour(support: ProtocolSupport) -> RecoveryBehaviour {
    let codec = request_response::cbor::codec::Codec::default()
        .set_request_size_maximum(recovery::MAX_RECOVERY_FRAME_BYTES)
        .set_response_size_maximum(recovery::MAX_RECOVERY_FRAME_BYTES);
    request_response::Behaviour::with_codec(
        codec,
        [(StreamProtocol::new(recovery::PROTOCOL), support)],
        request_response::Config::default()
            .with_request_timeout(FRIEND_REQUEST_TIMEOUT)
            .with_max_concurrent_streams(MAX_SMALL_STREAMS),
    )
}

pub fn pair_behaviour(support: ProtocolSupport) -> PairBehaviour {
    let codec = request_response::cbor::codec::Codec::default()
        .set_request_size_maximum(pairing::MAX_PAIR_BYTES)
        .set_response_size_maximum(pairing::MAX_PAIR_BYTES);
    request_response::Behaviour::with_codec(
        codec,
        [(StreamProtocol::new(pairing::PROTOCOL), support)],
        request_response::Config::default()
            .with_request_timeout(FRIEND_REQUEST_TIMEOUT)
            .with_max_concurrent_streams(MAX_SMALL_STREAMS),
    )
}

/// Incoming connections still in their handshake (TCP/QUIC, Noise, Yamux)
/// at once; more are refused until some finish.
pub const MAX_PENDING_INCOMING: u32 = 32;

/// Established incoming connections at once. The actor also keeps at most
/// `actor::peers::MAX_STRANGER_PEERS` of them for peers that are neither
/// this account, a friend nor introduced, evicting the oldest first.
pub const MAX_ESTABLISHED_INCOMING: u32 = 256;

/// Connections to one peer at once.
pub const MAX_CONNECTIONS_PER_PEER: u32 = 4;

/// Concurrent `/kith/sync/1` streams per connection (each may hold a
/// request of up to `MAX_SYNC_REQUEST_BYTES` while it is read).
pub const MAX_SYNC_STREAMS: usize = 8;

/// Concurrent `/kith/friend/1`, `/kith/hello/1` and `/kith/pair/1`
/// streams per connection.
pub const MAX_SMALL_STREAMS: usize = 4;

/// Largest Kademlia message: a record set with room for framing.
pub const KAD_MAX_PACKET_BYTES: usize = kith_protocol::records::MAX_RECORD_SET_BYTES + 4096;

/// Reservations a relay node holds for others at once ...
pub const RELAY_MAX_RESERVATIONS: usize = 1024;
/// ... and per peer.
pub const RELAY_MAX_RESERVATIONS_PER_PEER: usize = 4;
/// How long a reservation lasts before its holder renews it.
pub const RELAY_RESERVATION_DURATION: Duration = Duration::from_secs(60 * 60);
/// Relayed connections a relay node carries at once ...
pub const RELAY_MAX_CIRCUITS: usize = 128;
/// ... and per peer.
pub const RELAY_MAX_CIRCUITS_PER_PEER: usize = 8;
/// How long one relayed connection may last. libp2p's default, 2 minutes,
/// would cut a friend's catch-up or a symmetric-NAT pair (which never goes
/// direct) in the middle; Kith's traffic between two people is small, so a
/// long circuit costs the relay little. The peers reconnect when it ends.
pub const RELAY_MAX_CIRCUIT_DURATION: Duration = Duration::from_secs(30 * 60);
/// Bytes one relayed connection may carry (each way). libp2p's default,
/// 128 KiB, is less than one whole-document catch-up.
pub const RELAY_MAX_CIRCUIT_BYTES: u64 = 64 * 1024 * 1024;

fn relay_config() -> relay::Config {
    relay::Config {
        max_reservations: RELAY_MAX_RESERVATIONS,
        max_reservations_per_peer: RELAY_MAX_RESERVATIONS_PER_PEER,
        reservation_duration: RELAY_RESERVATION_DURATION,
        max_circuits: RELAY_MAX_CIRCUITS,
        max_circuits_per_peer: RELAY_MAX_CIRCUITS_PER_PEER,
        max_circuit_duration: RELAY_MAX_CIRCUIT_DURATION,
        max_circuit_bytes: RELAY_MAX_CIRCUIT_BYTES,
        ..relay::Config::default()
    }
}

/// AutoNAT, tuned so a node learns within seconds, not minutes, whether
/// others can dial it. Probe servers are chosen by the actor
/// (`actor::reach::note_probe_server`), not libp2p's "any connected peer": a
/// peer on the same host or home network can always dial us back, and
/// would make a node behind a NAT believe it is public. Documentation and
/// other non-global ranges are allowed (test labs; libp2p's
/// `only_global_ips` would refuse them).
fn autonat_config() -> autonat::Config {
    autonat::Config {
        use_connected: false,
        boot_delay: Duration::from_secs(2),
        retry_interval: Duration::from_secs(5),
        refresh_interval: Duration::from_secs(5 * 60),
        throttle_server_period: Duration::from_secs(5),
        confidence_max: 2,
        only_global_ips: false,
        ..autonat::Config::default()
    }
}

/// How long a pull waits for its response.
pub const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a handshake message waits for its reply.
pub const FRIEND_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

// Not every sub-behaviour implements `Debug`.
#[allow(missing_debug_implementations)]
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// First, so a connection over the limits is refused before any other
    /// behaviour spends anything on it.
    pub limits: connection_limits::Behaviour,
    pub relay_client: relay::client::Behaviour,
    /// On with `--relay`: a circuit relay v2 server for others.
    pub relay_server: Toggle<relay::Behaviour>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub hello: HelloBehaviour,
    pub friend: FriendBehaviour,
    pub sync: SyncBehaviour,
    pub pair: PairBehaviour,
    pub recovery: RecoveryBehaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub gossipsub: gossipsub::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    pub autonat: autonat::Behaviour,
    pub dcutr: dcutr::Behaviour,
}

impl Behaviour {
    pub fn new(
        key: &Keypair,
        relay_client: relay::client::Behaviour,
        enable_mdns: bool,
        dht_server: bool,
        relay_server: bool,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let peer_id = key.public().to_peer_id();

        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                .with_agent_version(format!("kith/{}", env!("CARGO_PKG_VERSION"))),
        );

        let codec = request_response::cbor::codec::Codec::default()
            .set_request_size_maximum(limits::MAX_HELLO_BYTES)
            .set_response_size_maximum(limits::MAX_HELLO_BYTES);
        let hello = request_response::Behaviour::with_codec(
            codec,
            [(StreamProtocol::new(hello::PROTOCOL), ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(limits::HELLO_TIMEOUT_SECS))
                .with_max_concurrent_streams(MAX_SMALL_STREAMS),
        );

        let friend_codec = request_response::cbor::codec::Codec::default()
            .set_request_size_maximum(limits::MAX_FRIEND_FRAME_BYTES)
            .set_response_size_maximum(limits::MAX_FRIEND_FRAME_BYTES);
        let friend = request_response::Behaviour::with_codec(
            friend_codec,
            [(StreamProtocol::new(friend::PROTOCOL), ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(FRIEND_REQUEST_TIMEOUT)
                .with_max_concurrent_streams(MAX_SMALL_STREAMS),
        );

        let sync_codec = request_response::cbor::codec::Codec::default()
            .set_request_size_maximum(sync::MAX_SYNC_REQUEST_BYTES)
            .set_response_size_maximum(sync::MAX_SYNC_RESPONSE_BYTES);
        let sync = request_response::Behaviour::with_codec(
            sync_codec,
            [(StreamProtocol::new(sync::PROTOCOL), ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(SYNC_REQUEST_TIMEOUT)
                .with_max_concurrent_streams(MAX_SYNC_STREAMS),
        );

        let mut kad_config = kad::Config::new(KAD_PROTOCOL);
        // Records from other peers are checked (signature, key) before they
        // are stored: see actor/records.rs.
        kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
        kad_config.set_query_timeout(Duration::from_secs(30));
        // A record set (one record per device, `records::RecordSet`) is
        // larger than libp2p's 16 KiB default packet.
        kad_config.set_max_packet_size(KAD_MAX_PACKET_BYTES);
        // The actor bootstraps when it has bootstrap peers; libp2p's own
        // periodic bootstrap only warns "no known peers" on a fresh node.
        kad_config.set_periodic_bootstrap_interval(None);
        let store_config = kad::store::MemoryStoreConfig {
            max_value_bytes: kith_protocol::records::MAX_RECORD_SET_BYTES,
            ..Default::default()
        };
        let record_store = kad::store::MemoryStore::with_config(peer_id, store_config);
        let mut kad = kad::Behaviour::with_config(peer_id, record_store, kad_config);
        // Serve the DHT (if configured) even before AutoNAT confirms we are
        // reachable: on a LAN or loopback there is no one else to confirm it.
        kad.set_mode(Some(if dht_server {
            kad::Mode::Server
        } else {
            kad::Mode::Client
        }));

        // Gossipsub does not sign messages: rust-libp2p verifies a signed
        // message on every duplicate copy before de-duplicating it. Kith
        // signs each announcement itself, and the actor verifies it once,
        // after de-duplication (a message's id is a hash of its bytes, so
        // the same announcement relayed by several nodes is one message),
        // together with who announced it and any changes it carries.
        // Gossipsub forwards a message only once the actor accepts it
        // (`validate_messages`), so junk stops at the first honest node.
        let gossipsub_config = gossipsub::ConfigBuilder::default()
            .max_transmit_size(MAX_GOSSIP_BYTES)
            .connection_handler_queue_len(GOSSIP_QUEUE_LEN)
            .validate_messages()
            .validation_mode(gossipsub::ValidationMode::Anonymous)
            .message_id_fn(|message| {
                gossipsub::MessageId::from(sync::announcement_id(&message.data))
            })
            .build()?;
        let gossipsub =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossipsub_config)?;

        let mdns = if enable_mdns {
            Some(mdns::tokio::Behaviour::new(
                mdns::Config::default(),
                peer_id,
            )?)
        } else {
            None
        };

        let limits = connection_limits::ConnectionLimits::default()
            .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
            .with_max_established_incoming(Some(MAX_ESTABLISHED_INCOMING))
            .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER));

        let relay_server = relay_server.then(|| relay::Behaviour::new(peer_id, relay_config()));

        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(limits),
            relay_client,
            relay_server: Toggle::from(relay_server),
            identify,
            ping: ping::Behaviour::default(),
            hello,
            friend,
            sync,
            pair: pair_behaviour(ProtocolSupport::Full),
            recovery: recovery_behaviour(ProtocolSupport::Full),
            kad,
            gossipsub,
            mdns: Toggle::from(mdns),
            autonat: autonat::Behaviour::new(peer_id, autonat_config()),
            dcutr: dcutr::Behaviour::new(peer_id),
        })
    }
}
