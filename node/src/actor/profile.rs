//! Profiles and platform links on the actor side.

use std::collections::BTreeMap;

use kith_crdt::{
    DocKind,
    identity::{self, Link},
    profile,
};
use kith_keys::AccountId;

use kith_protocol::bridge;

use super::{Internal, NodeActor};
use crate::refusal::{DevicesRefusal, ProfileRefusal};
use crate::{
    bridges::{BridgeHandle, BridgeStatus, CallError},
    events::Event,
    node::{NodeError, ProfileView, Visibility},
    store::LinkCheck,
    unix_now,
};

/// How long a link check stands before friends' nodes check again.
pub const LINK_RECHECK_SECS: u64 = 600;

/// Whether a bridge can check proofs for `platform` (it is named after it).
fn can_verify(handle: &BridgeHandle, platform: &str) -> bool {
    matches!(handle.status(), BridgeStatus::Running(d) if d.name.eq_ignore_ascii_case(platform) && d.capabilities.iter().any(|c| c == "verify_link"))
}

impl NodeActor {
    /// Set a field in the public or the friends-only profile. A field lives
    /// in exactly one of the two, so it is removed from the other.
    pub(super) fn set_field(
        &mut self,
        field: &str,
        value: &str,
        visibility: Visibility,
    ) -> Result<(), NodeError> {
        let (into, out_of) = match visibility {
            Visibility::Public => (DocKind::Profile, DocKind::ProfilePrivate),
            Visibility::Friends => (DocKind::ProfilePrivate, DocKind::Profile),
        };
        self.edit_own(into, |d| profile::set(d, field, value))?;
        if profile::get(self.docs.own(out_of), field).is_some() {
            self.edit_own(out_of, |d| profile::unset(d, field))?;
        }
        if matches!(field, "name" | "bio") {
            self.push_profile_to_bridges();
        }
        Ok(())
    }

    pub(super) fn unset_field(&mut self, field: &str) -> Result<(), NodeError> {
        let mut found = false;
        for kind in [DocKind::Profile, DocKind::ProfilePrivate] {
            found |= self.edit_own(kind, |d| profile::unset(d, field))?;
        }
        if found {
            Ok(())
        } else {
            Err(NodeError::refused(
                ProfileRefusal::NoSuchField,
                format!("your profile has no field `{field}`"),
            ))
        }
    }

    /// What this node holds of an account's profile: public fields for
    /// anyone it knows, friends-only fields when it holds them (it holds them
    /// only if it was allowed to read them).
    pub(super) fn profile_of(
        &mut self,
        account: Option<AccountId>,
    ) -> Result<ProfileView, NodeError> {
        let account = account.unwrap_or(self.identity.account());
        let public = self
            .doc_ref(&account, DocKind::Profile)
            .map(profile::fields);
        let private = self
            .doc_ref(&account, DocKind::ProfilePrivate)
            .map(profile::fields);
        if public.is_none() && private.is_none() && account != self.identity.account() {
            return Err(NodeError::refused(
                ProfileRefusal::UnknownAccount,
                format!(
                    "this node holds no profile of {account} (connect to it or befriend it first)"
                ),
            ));
        }
        let mut fields = BTreeMap::new();
        for (name, value) in public.unwrap_or_default() {
            fields.insert(name, (value, Visibility::Public));
        }
        for (name, value) in private.unwrap_or_default() {
            fields.insert(name, (value, Visibility::Friends));
        }
        Ok(ProfileView { account, fields })
    }

    pub(super) fn add_link(
        &mut self,
        platform: String,
        handle: String,
        proof: String,
    ) -> Result<(), NodeError> {
        // Devices with the account key sign the claim, so anyone can check it.
        let signature = self.identity.account_key.as_ref().map(|key| {
            key.sign(
                kith_keys::sign::Context::LinkProof,
                &bridge::link_payload(&key.id(), &platform, &handle),
            )
            .to_bytes()
        });
        let link = Link {
            platform,
            handle,
            proof,
            added_at: unix_now(),
            signature,
        };
        self.edit_own(DocKind::Identity, |d| identity::add_link(d, &link))?;
        self.verify_links(self.identity.account(), true);
        Ok(())
    }

    /// The statement to post on a platform to prove a link (needs the account key).
    pub(super) fn link_statement(&self, platform: &str, handle: &str) -> Result<String, NodeError> {
        let Some(key) = &self.identity.account_key else {
            return Err(NodeError::refused(
                DevicesRefusal::NoAccountKey,
                "signing a link proof needs the account key, which this device does not hold",
            ));
        };
        let signature = key.sign(
            kith_keys::sign::Context::LinkProof,
            &bridge::link_payload(&key.id(), platform, handle),
        );
        Ok(bridge::link_statement(
            &key.id(),
            platform,
            handle,
            &signature,
        ))
    }

    /// Check an account's link proofs through the matching bridges (those
    /// named like the platform that can verify links). `force` ignores the
    /// time since the last check.
    pub(super) fn verify_links(&mut self, owner: AccountId, force: bool) {
        let now = unix_now();
        for link in self.links_of(Some(owner)).into_iter().map(|(l, _)| l) {
            if link.proof.is_empty() {
                continue;
            }
            let recent = self
                .store
                .link_check(&owner, &link.platform, &link.handle)
                .ok()
                .flatten()
                .is_some_and(|c| now.saturating_sub(c.checked_at) < LINK_RECHECK_SECS);
            if recent && !force {
                continue;
            }
            let signature = link.signature.map(|s| kith_keys::Signature::from_bytes(&s));
            let Some(signature) = signature
                .filter(|s| bridge::link_signature_valid(&owner, &link.platform, &link.handle, s))
            else {
                let check = LinkCheck {
                    verified: false,
                    reason: Some("the link is not signed by the account key".into()),
                    checked_at: now,
                };
                let _ = self
                    .store
                    .put_link_check(&owner, &link.platform, &link.handle, &check);
                continue;
            };
            let Some(handle) = self
                .bridges
                .running
                .values()
                .find(|h| can_verify(h, &link.platform))
                .cloned()
            else {
                continue;
            };
            let params = bridge::VerifyLink {
                handle: link.handle.clone(),
                proof: link.proof.clone(),
                statement: bridge::link_statement(&owner, &link.platform, &link.handle, &signature),
            };
            let Ok(params) = serde_json::to_value(params) else {
                continue;
            };
            self.children.spawn(async move {
                let result = handle.call("verify_link", params).await;
                Some(Internal::LinkChecked {
                    owner,
                    platform: link.platform,
                    handle: link.handle,
                    result,
                })
            });
        }
    }

    pub(super) fn link_checked(
        &mut self,
        owner: AccountId,
        platform: String,
        handle: String,
        result: Result<serde_json::Value, CallError>,
    ) {
        let check = match result.map(serde_json::from_value::<bridge::Verified>) {
            Ok(Ok(v)) => LinkCheck {
                verified: v.verified,
                reason: v.reason,
                checked_at: unix_now(),
            },
            Ok(Err(e)) => LinkCheck {
                verified: false,
                reason: Some(format!("the bridge answered nonsense: {e}")),
                checked_at: unix_now(),
            },
            // A platform that is down says nothing about the proof: keep what was known.
            Err(CallError::Transient(e)) => {
                return tracing::debug!(%owner, %platform, error = %e, "link check postponed");
            }
            Err(CallError::Permanent(e)) => LinkCheck {
                verified: false,
                reason: Some(e),
                checked_at: unix_now(),
            },
        };
        tracing::info!(%owner, %platform, %handle, verified = check.verified, "link proof checked");
        let _ = self
            .store
            .put_link_check(&owner, &platform, &handle, &check);
        self.emit(Event::LinkChecked {
            owner,
            platform,
            handle,
            verified: check.verified,
        });
    }

    pub(super) fn remove_link(&mut self, platform: &str, handle: &str) -> Result<(), NodeError> {
        if self.edit_own(DocKind::Identity, |d| {
            identity::remove_link(d, platform, handle)
        })? {
            Ok(())
        } else {
            Err(NodeError::refused(
                ProfileRefusal::NoSuchLink,
                format!("no link {platform} {handle}"),
            ))
        }
    }

    /// Links with whether this node found their proofs valid.
    pub(super) fn links_of(&mut self, account: Option<AccountId>) -> Vec<(Link, bool)> {
        let account = account.unwrap_or(self.identity.account());
        let links = self
            .doc_ref(&account, DocKind::Identity)
            .map(identity::links)
            .unwrap_or_default();
        links
            .into_iter()
            .map(|l| {
                let check = self
                    .store
                    .link_check(&account, &l.platform, &l.handle)
                    .ok()
                    .flatten();
                (l, check.is_some_and(|c| c.verified))
            })
            .collect()
    }

    /// A display name for an account: its profile's `name`, if held.
    pub(super) fn name_of(&mut self, account: &AccountId) -> Option<String> {
        self.doc_ref(account, DocKind::Profile)
            .and_then(|d| profile::get(d, "name"))
    }

    /// Carry the name given at `kith init` into the profile on first start.
    pub(super) fn adopt_initial_name(&mut self) {
        if profile::get(self.docs.own(DocKind::Profile), "name").is_some() {
            return;
        }
        if let Ok(Some(name)) = self.store.display_name()
            && let Err(e) = self.set_field("name", &name, Visibility::Public)
        {
            tracing::warn!(error = %e, "could not put the initial name into the profile");
        }
    }
}
