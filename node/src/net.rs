//! Everything libp2p: the composed behaviour and how the swarm is built.

mod behaviour;
pub mod join;
mod swarm;

pub use behaviour::{
    Behaviour, BehaviourEvent, IDENTIFY_PROTOCOL, KAD_PROTOCOL, RecoveryBehaviour,
    recovery_behaviour,
};
pub use swarm::{SwarmSettings, build_swarm, swarm_with};

use kith_keys::DeviceId;
use libp2p::PeerId;

/// A libp2p `PeerId` as a Kith device id (only ed25519 peer ids are devices).
pub fn device_of(peer: &PeerId) -> Option<DeviceId> {
    DeviceId::from_peer_id_bytes(&peer.to_bytes()).ok()
}

/// A Kith device id as the libp2p `PeerId` of the same key.
pub fn peer_of(device: &DeviceId) -> PeerId {
    // The bytes are always a valid identity multihash of an ed25519 key, so
    // this cannot fail; `PeerId::random` keeps the function total anyway.
    PeerId::from_bytes(&device.to_peer_id_bytes()).unwrap_or_else(|_| PeerId::random())
}

/// The peer id at the end of a multiaddr (`…/p2p/12D3Koo…`), if any.
pub fn peer_in(addr: &libp2p::Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::DeviceKey;

    #[test]
    fn device_ids_are_libp2p_peer_ids() {
        let key = DeviceKey::from_seed(&[7; 32]);
        let mut seed = *key.seed();
        let keypair = libp2p::identity::Keypair::ed25519_from_bytes(&mut seed).unwrap();
        let peer = keypair.public().to_peer_id();
        assert_eq!(peer.to_string(), key.id().to_string());
        assert_eq!(device_of(&peer), Some(key.id()));
        assert_eq!(peer_of(&key.id()), peer);
        assert_eq!(device_of(&PeerId::random()), None);
    }
}
