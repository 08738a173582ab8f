//! Building the libp2p `Swarm`: TCP and QUIC, Noise, Yamux, DNS, relay client.

use std::time::Duration;

use kith_keys::DeviceKey;
use libp2p::{Swarm, identity::Keypair, noise, relay, swarm::NetworkBehaviour, tcp, yamux};

use super::Behaviour;

/// How long a connection with no open streams stays up. Kith peers keep
/// talking (ping, gossip), so this mostly ends connections to silent peers.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct SwarmSettings {
    pub mdns: bool,
    pub dht_server: bool,
    /// Serve as a circuit relay for others.
    pub relay: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the network stack: {0}")]
pub struct BuildError(String);

/// Why a swarm's behaviour could not be made (libp2p's builder takes this type).
pub type BehaviourError = Box<dyn std::error::Error + Send + Sync>;

fn build_err(e: impl std::fmt::Display) -> BuildError {
    BuildError(e.to_string())
}

/// Yamux streams one connection may have open at once (libp2p's default
/// is 512). Kith's protocols cap their own streams lower (`net::behaviour`).
pub const MAX_STREAMS_PER_CONNECTION: usize = 64;

fn yamux_config() -> yamux::Config {
    let mut config = yamux::Config::default();
    config.set_max_num_streams(MAX_STREAMS_PER_CONNECTION);
    config
}

/// The daemon's swarm. The device key is the libp2p identity, so
/// `PeerId` = device id.
pub fn build_swarm(
    device: &DeviceKey,
    settings: &SwarmSettings,
) -> Result<Swarm<Behaviour>, BuildError> {
    let (mdns, dht_server, relay) = (settings.mdns, settings.dht_server, settings.relay);
    swarm_with(
        device,
        |key, relay_client| Behaviour::new(key, relay_client, mdns, dht_server, relay),
        IDLE_CONNECTION_TIMEOUT,
    )
}

/// A swarm of `device` carrying `behaviour`: TCP and QUIC, Noise, Yamux (at
/// most [`MAX_STREAMS_PER_CONNECTION`] streams), DNS and a relay client. The
/// daemon's swarm and the short-lived ones (joining as a new device,
/// recovering an account) are all built here.
pub fn swarm_with<B: NetworkBehaviour>(
    device: &DeviceKey,
    behaviour: impl FnOnce(&Keypair, relay::client::Behaviour) -> Result<B, BehaviourError>,
    idle_timeout: Duration,
) -> Result<Swarm<B>, BuildError> {
    let mut seed = *device.seed();
    let keypair = Keypair::ed25519_from_bytes(&mut seed).map_err(build_err)?;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux_config,
        )
        .map_err(build_err)?
        .with_quic()
        .with_dns()
        .map_err(build_err)?
        .with_relay_client(noise::Config::new, yamux_config)
        .map_err(build_err)?
        .with_behaviour(behaviour)
        .map_err(build_err)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle_timeout))
        .build();
    Ok(swarm)
}
