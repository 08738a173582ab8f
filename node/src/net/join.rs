//! The joining side of `/kith/pair/1`: a short-lived swarm that dials the
//! ticket's device, proves the secret and receives a device certificate.
//! Used by `kith device join`, which runs without a daemon.

use std::time::Duration;

use futures::StreamExt as _;
use kith_keys::{DeviceCert, DeviceKey};
use kith_protocol::{
    pairing::{self, PairRequest, PairResponse},
    refusal::WireRefusal,
    ticket::Ticket,
};
use libp2p::{
    Multiaddr, relay,
    request_response::{self, ProtocolSupport},
    swarm::{NetworkBehaviour, SwarmEvent, dial_opts::DialOpts},
};

use super::{
    behaviour::{PairBehaviour, pair_behaviour},
    peer_of,
};

/// The joining swarm: pairing, and a relay client so that a ticket's
/// relayed address (a device behind a NAT) can be dialled too.
#[allow(missing_debug_implementations)]
#[derive(NetworkBehaviour)]
struct JoinBehaviour {
    relay: relay::client::Behaviour,
    pair: PairBehaviour,
}

/// How long joining may take in all.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What a successful join brings home.
#[derive(Debug)]
pub struct Joined {
    pub cert: DeviceCert,
    pub account_seed: Option<[u8; 32]>,
    pub code: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the linked device refused: {0}")]
    Refused(WireRefusal),
    #[error("could not reach the linked device: {0}")]
    Unreachable(String),
    #[error("no answer from the linked device within {JOIN_TIMEOUT:?}")]
    Timeout,
    #[error("the linked device sent a certificate that does not fit this device or account")]
    BadCertificate,
}

/// Pair `device` with the account of `ticket`.
pub async fn join(
    device: &DeviceKey,
    ticket: &Ticket,
    device_name: &str,
) -> Result<Joined, JoinError> {
    tokio::time::timeout(JOIN_TIMEOUT, run(device, ticket, device_name))
        .await
        .map_err(|_| JoinError::Timeout)?
}

async fn run(device: &DeviceKey, ticket: &Ticket, device_name: &str) -> Result<Joined, JoinError> {
    let unreachable = |e: &dyn std::fmt::Display| JoinError::Unreachable(e.to_string());
    let mut swarm = super::swarm_with(
        device,
        |_, relay| {
            Ok(JoinBehaviour {
                relay,
                pair: pair_behaviour(ProtocolSupport::Outbound),
            })
        },
        Duration::from_secs(10),
    )
    .map_err(|e| unreachable(&e))?;
    let issuer = peer_of(&ticket.device);
    let addrs: Vec<Multiaddr> = ticket
        .addrs
        .iter()
        .filter_map(|b| Multiaddr::try_from(b.clone()).ok())
        .collect();
    if addrs.is_empty() {
        return Err(JoinError::Unreachable("the ticket holds no address".into()));
    }
    swarm
        .dial(DialOpts::peer_id(issuer).addresses(addrs).build())
        .map_err(|e| unreachable(&e))?;
    let transcript = pairing::transcript(&ticket.account, &ticket.device, &device.id());
    let request = PairRequest {
        account: ticket.account,
        device_name: device_name.to_string(),
        proof: pairing::proof(&ticket.secret, &transcript),
    };
    let mut sent = false;
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == issuer && !sent => {
                swarm
                    .behaviour_mut()
                    .pair
                    .send_request(&issuer, request.clone());
                sent = true;
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => return Err(unreachable(&error)),
            SwarmEvent::Behaviour(JoinBehaviourEvent::Pair(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            })) => {
                return match response {
                    PairResponse::Linked { cert, account_seed } => {
                        let fits = cert.verify().is_ok()
                            && cert.device == device.id()
                            && cert.account == ticket.account;
                        if !fits {
                            return Err(JoinError::BadCertificate);
                        }
                        Ok(Joined {
                            cert,
                            account_seed,
                            code: pairing::confirmation_code(&ticket.secret, &transcript),
                        })
                    }
                    PairResponse::Refused { code } => {
                        Err(JoinError::Refused(WireRefusal::from_code(&code)))
                    }
                };
            }
            SwarmEvent::Behaviour(JoinBehaviourEvent::Pair(
                request_response::Event::OutboundFailure { error, .. },
            )) => {
                return Err(unreachable(&error));
            }
            _ => {}
        }
    }
}
