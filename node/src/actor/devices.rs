//! Linked devices on the actor side: pairing tickets, `/kith/pair/1` on the
//! issuing device, the device list, revocation and what it takes away.

use kith_crdt::{
    DocKind,
    identity::{self, Revocation},
};
use kith_keys::{AccountId, DeviceCert, DeviceId};
use kith_protocol::{
    pairing::{
        self, MAX_OPEN_PAIRINGS, MAX_PAIR_ATTEMPTS, MAX_PAIR_TTL_SECS, PairRequest, PairResponse,
    },
    refusal::WireRefusal,
    sync::Cutoffs,
    ticket::{Ticket, TicketKind},
};
use libp2p::{PeerId, request_response};

use super::NodeActor;
use crate::refusal::DevicesRefusal;
use crate::{
    events::Event,
    net::device_of,
    node::{DeviceInfo, Invite, NodeError},
    store::PairingRecord,
    unix_now,
};

impl NodeActor {
    /// A one-time pairing ticket. Needs the account key (to certify the new device).
    pub(super) fn device_link(&mut self, ttl_secs: u64, admin: bool) -> Result<Invite, NodeError> {
        if self.identity.account_key.is_none() {
            return Err(NodeError::refused(
                DevicesRefusal::NoAccountKey,
                "this device does not hold the account key; link from a device that does (or one linked with --admin)",
            ));
        }
        if ttl_secs == 0 || ttl_secs > MAX_PAIR_TTL_SECS {
            return Err(NodeError::refused(
                DevicesRefusal::InvalidTtl,
                format!(
                    "a pairing ticket may be valid for 1 s to {} h",
                    MAX_PAIR_TTL_SECS / 3600
                ),
            ));
        }
        let now = unix_now();
        let open = self
            .store
            .pairings(now)?
            .iter()
            .filter(|p| !p.used && p.expires_at > now)
            .count();
        if open >= MAX_OPEN_PAIRINGS {
            return Err(NodeError::refused(
                DevicesRefusal::TooManyInvites,
                format!("{MAX_OPEN_PAIRINGS} pairing tickets are open; wait for them to expire"),
            ));
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| NodeError::Network(format!("no randomness: {e}")))?;
        let expires_at = now + ttl_secs;
        self.store.put_pairing(&PairingRecord {
            secret,
            expires_at,
            used: false,
            attempts: 0,
            admin,
        })?;
        let ticket = Ticket {
            kind: TicketKind::Pairing,
            account: self.identity.account(),
            device: self.identity.device(),
            expires_at,
            secret,
            addrs: self.shareable_addrs().iter().map(|a| a.to_vec()).collect(),
        };
        Ok(Invite {
            ticket: ticket.to_text(),
            expires_at,
        })
    }

    pub(super) fn handle_pair_event(
        &mut self,
        event: request_response::Event<PairRequest, PairResponse>,
    ) {
        if let request_response::Event::Message {
            peer,
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        } = event
        {
            let response = match self.pair(peer, &request) {
                Ok(response) => response,
                Err(e) => {
                    tracing::error!(error = %e, "pairing failed");
                    PairResponse::refused(&WireRefusal::Internal)
                }
            };
            if let PairResponse::Refused { code } = &response {
                tracing::warn!(%peer, %code, "refused a pairing attempt");
            }
            self.tap(&peer, "pair", || kith_protocol::wire_bytes(&response));
            let _ = self
                .swarm
                .behaviour_mut()
                .pair
                .send_response(channel, response);
        }
    }

    fn pair(&mut self, peer: PeerId, request: &PairRequest) -> Result<PairResponse, NodeError> {
        let now = unix_now();
        let asked = pairing::Asked {
            account: self.identity.account(),
            device: self.identity.device(),
            has_account_key: self.identity.account_key.is_some(),
            joiner: device_of(&peer),
            within_rate: self.friends.limiter.allow(&peer, now),
            now,
        };
        let pairings = self.store.pairings(now)?;
        let open: Vec<pairing::OpenTicket> = pairings
            .iter()
            .map(|p| pairing::OpenTicket {
                secret: p.secret,
                expires_at: p.expires_at,
                used: p.used,
            })
            .collect();
        let (index, joiner) = match pairing::decide(&asked, request, &open) {
            pairing::Decision::Link { ticket, joiner } => (ticket, joiner),
            pairing::Decision::Refuse(refusal) => return Ok(PairResponse::refused(&refusal)),
            pairing::Decision::WrongSecret => {
                // Counts against every open ticket; too many burn them.
                for mut open in pairings.into_iter().filter(|p| !p.used) {
                    open.attempts += 1;
                    if open.attempts >= MAX_PAIR_ATTEMPTS {
                        open.used = true;
                    }
                    self.store.put_pairing(&open)?;
                }
                return Ok(PairResponse::refused(&WireRefusal::WrongSecret));
            }
        };
        let (Some(account_key), Some(mut ticket)) = (
            self.identity.account_key.clone(),
            pairings.get(index).cloned(),
        ) else {
            return Ok(PairResponse::refused(&WireRefusal::Internal));
        };
        ticket.used = true;
        self.store.put_pairing(&ticket)?;
        let transcript =
            pairing::transcript(&self.identity.account(), &self.identity.device(), &joiner);
        let name = if request.device_name.is_empty() {
            "device".to_string()
        } else {
            request.device_name.clone()
        };
        let cert = DeviceCert::issue(&account_key, joiner, &name, now)
            .map_err(|e| NodeError::refused(DevicesRefusal::InvalidName, e.to_string()))?;
        self.edit_own(DocKind::Identity, |d| identity::add_device(d, &cert))?;
        let code = pairing::confirmation_code(&ticket.secret, &transcript);
        tracing::info!(device = %joiner, %name, confirmation = %code, "linked a new device");
        self.emit(Event::DeviceLinked {
            device: joiner,
            name,
            code,
        });
        let account_seed = ticket.admin.then(|| *account_key.seed());
        Ok(PairResponse::Linked { cert, account_seed })
    }

    /// This account's devices as the identity document knows them.
    pub(super) fn device_list(&self) -> Vec<DeviceInfo> {
        let me = self.identity.account();
        let doc = self.docs.own(DocKind::Identity);
        let revoked: Vec<DeviceId> = identity::revocations(doc, &me)
            .iter()
            .map(|r| r.device)
            .collect();
        let mut certs = identity::devices(doc, &me);
        if !certs.iter().any(|c| c.device == self.identity.device()) {
            certs.push(self.identity.cert.clone());
        }
        certs
            .into_iter()
            .map(|c| DeviceInfo {
                revoked: revoked.contains(&c.device),
                this: c.device == self.identity.device(),
                device: c.device,
                name: c.name,
                added_at: c.issued_at,
            })
            .collect()
    }

    /// Another account's devices, from its identity document as held here.
    pub(super) fn devices_of(&mut self, owner: &AccountId) -> Vec<DeviceInfo> {
        let Some(doc) = self.doc_ref(owner, DocKind::Identity) else {
            return Vec::new();
        };
        let revoked: Vec<DeviceId> = identity::revocations(doc, owner)
            .iter()
            .map(|r| r.device)
            .collect();
        identity::devices(doc, owner)
            .into_iter()
            .map(|c| DeviceInfo {
                revoked: revoked.contains(&c.device),
                this: false,
                device: c.device,
                name: c.name,
                added_at: c.issued_at,
            })
            .collect()
    }

    pub(super) fn revoke_device(&mut self, device: DeviceId) -> Result<(), NodeError> {
        let Some(account_key) = self.identity.account_key.clone() else {
            return Err(NodeError::refused(
                DevicesRefusal::NoAccountKey,
                "revoking needs the account key, which this device does not hold",
            ));
        };
        if device == self.identity.device() {
            return Err(NodeError::refused(
                DevicesRefusal::RevokeSelf,
                "this is the device you are using; revoke it from another one",
            ));
        }
        if self.is_revoked(&self.identity.account(), &device) {
            return Err(NodeError::refused(
                DevicesRefusal::AlreadyRevoked,
                format!("{device} is already revoked"),
            ));
        }
        // Its changes this device has seen stay valid; nothing newer will
        // be: per document, the sequence number of its last change here.
        let mut cutoff = [0u64; 6];
        for (slot, kind) in cutoff.iter_mut().zip(DocKind::ALL) {
            if let Some(doc) = self.doc_mut(&self.identity.account(), kind) {
                *slot = doc.max_seq_of(&device);
            }
        }
        let revocation = Revocation::issue(&account_key, device, unix_now(), cutoff);
        self.edit_own(DocKind::Identity, |d| {
            identity::add_revocation(d, &revocation)
        })?;
        tracing::info!(%device, "device revoked");
        self.emit(Event::DeviceRevoked { device });
        let _ = self.swarm.disconnect_peer_id(crate::net::peer_of(&device));
        Ok(())
    }

    /// Revocations of `owner`'s devices, as this node holds them.
    pub(super) fn revocations_of(&mut self, owner: &AccountId) -> Vec<Revocation> {
        self.doc_ref(owner, DocKind::Identity)
            .map(|d| identity::revocations(d, owner))
            .unwrap_or_default()
    }

    pub(super) fn is_revoked(&mut self, owner: &AccountId, device: &DeviceId) -> bool {
        self.revocations_of(owner)
            .iter()
            .any(|r| r.device == *device)
    }

    /// The account key and a snapshot of each own document with every
    /// change's signature, for `kith export` (sealed by the caller, off
    /// the actor: the key stretching takes a while).
    pub(super) fn export(&mut self) -> Result<crate::backup::Bundle, NodeError> {
        let Some(account_key) = self.identity.account_key.clone() else {
            return Err(NodeError::refused(
                DevicesRefusal::NoAccountKey,
                "this device does not hold the account key; export from a device that does",
            ));
        };
        let me = self.identity.account();
        let mut docs = Vec::new();
        for kind in DocKind::ALL {
            let snapshot =
                self.docs.own_mut(kind).save().map_err(|e| {
                    NodeError::Store(format!("cannot save the {kind:?} document: {e}"))
                })?;
            let signatures = self.store.doc_signatures(&me, kind)?;
            docs.push(crate::backup::ExportedDoc {
                kind,
                snapshot,
                signatures,
            });
        }
        Ok(crate::backup::Bundle { account_key, docs })
    }

    /// Put this device's certificate into the identity document once.
    pub(super) fn publish_own_certificate(&mut self) {
        let me = self.identity.account();
        if identity::devices(self.docs.own(DocKind::Identity), &me)
            .iter()
            .any(|c| c.device == self.identity.device())
        {
            return;
        }
        let cert = self.identity.cert.clone();
        if let Err(e) = self.edit_own(DocKind::Identity, |d| identity::add_device(d, &cert)) {
            tracing::warn!(error = %e, "could not record this device in the identity document");
        }
    }

    /// After our identity document changed remotely: tell own devices' event
    /// streams about devices that appeared or were revoked.
    /// After `owner`'s identity document changed: if it holds revocations
    /// this node did not know, drop every change past their cut-offs (and
    /// what depends on them) from the copies of `owner`'s documents, so this
    /// copy ends with the same heads as every other.
    pub(super) fn enforce_revocations(&mut self, owner: AccountId, known_before: usize) {
        let revocations = self.revocations_of(&owner);
        if revocations.len() <= known_before {
            return;
        }
        for kind in DocKind::ALL {
            let cutoffs = Cutoffs::of(&revocations, kind);
            let Some(doc) = self.doc_mut(&owner, kind) else {
                continue;
            };
            match doc.purge(|actor, seq| cutoffs.refuses(actor, seq)) {
                Ok(0) => {}
                Ok(dropped) => {
                    tracing::warn!(%owner, doc = %kind, dropped, "dropped changes made past a revocation");
                    self.compact(&owner, kind);
                }
                Err(e) => {
                    tracing::error!(%owner, doc = %kind, error = %e, "cannot drop changes past a revocation");
                }
            }
        }
    }

    pub(super) fn note_identity_changes(&mut self, before: &[DeviceInfo]) {
        for now in self.device_list() {
            match before.iter().find(|b| b.device == now.device) {
                None => self.emit(Event::DeviceLinked {
                    device: now.device,
                    name: now.name.clone(),
                    code: String::new(),
                }),
                Some(b) if !b.revoked && now.revoked => {
                    self.emit(Event::DeviceRevoked { device: now.device })
                }
                Some(_) => {}
            }
        }
    }
}
