//! Profiles and platform links on the actor side.

use std::collections::BTreeMap;

use kith_crdt::{
    DocKind,
    identity::{self, Link},
    profile,
};
use kith_keys::AccountId;

use super::NodeActor;
use crate::{
    node::{NodeError, ProfileView, Visibility},
    unix_now,
};

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
                "no_such_field",
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
                "unknown_account",
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
        let link = Link {
            platform,
            handle,
            proof,
            added_at: unix_now(),
        };
        self.edit_own(DocKind::Identity, |d| identity::add_link(d, &link))
    }

    pub(super) fn remove_link(&mut self, platform: &str, handle: &str) -> Result<(), NodeError> {
        if self.edit_own(DocKind::Identity, |d| {
            identity::remove_link(d, platform, handle)
        })? {
            Ok(())
        } else {
            Err(NodeError::refused(
                "no_such_link",
                format!("no link {platform} {handle}"),
            ))
        }
    }

    pub(super) fn links_of(&mut self, account: Option<AccountId>) -> Vec<Link> {
        let account = account.unwrap_or(self.identity.account());
        self.doc_ref(&account, DocKind::Identity)
            .map(identity::links)
            .unwrap_or_default()
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
