//! The actor's side of the privacy tap: what each peer may not learn.

use kith_crdt::{DocKind, friends, profile};
use kith_keys::AccountId;
use libp2p::PeerId;

use super::NodeActor;
use crate::{net::device_of, tap::Secrets};

/// Friends-only values shorter than this are not looked for (too likely
/// to occur by chance in other bytes).
const MIN_CANARY_LEN: usize = 6;

impl NodeActor {
    /// With a tap attached: check a message about to go to `peer`.
    pub(super) fn tap(&mut self, peer: &PeerId, what: &str, bytes: impl FnOnce() -> Vec<u8>) {
        self.tap_checked(peer, what, bytes, true);
    }

    /// An answer to `peer`'s own request: it names the accounts the peer
    /// asked about (echoing an id it sent is no leak), so only friends-only
    /// values and block ids are looked for.
    pub(super) fn tap_answer(
        &mut self,
        peer: &PeerId,
        what: &str,
        bytes: impl FnOnce() -> Vec<u8>,
    ) {
        self.tap_checked(peer, what, bytes, false);
    }

    fn tap_checked(
        &mut self,
        peer: &PeerId,
        what: &str,
        bytes: impl FnOnce() -> Vec<u8>,
        friend_ids: bool,
    ) {
        let Some(tap) = self.tap.clone().filter(|_| !self.tap_exempt) else {
            return;
        };
        let account = self.peers.get(peer).and_then(|p| p.account);
        let revoked = match (account, device_of(peer)) {
            (Some(a), Some(d)) => self.is_revoked(&a, &d),
            _ => false,
        };
        if !revoked && account.is_some_and(|a| self.may_learn_private(&a)) {
            return;
        }
        let mut secrets = self.secrets(account);
        if !friend_ids {
            secrets
                .needles
                .retain(|(what, _)| !what.starts_with("a friend"));
        }
        let to_whom = match account {
            Some(a) => format!("{} ({peer})", a.fmt_short()),
            None => peer.to_string(),
        };
        tap.check(&to_whom, what, &bytes(), &secrets);
    }

    /// This account, a friend, or a friend of a friend (who may read a
    /// friend's friends-only documents through this node): peers that may
    /// see friend ids and friends-only data.
    fn may_learn_private(&mut self, account: &AccountId) -> bool {
        if *account == self.identity.account() {
            return true;
        }
        let mine = friends::accounts(self.docs.own(DocKind::Friends));
        if mine.contains(account) {
            return true;
        }
        mine.iter().any(|friend| {
            self.doc_ref(friend, DocKind::Friends)
                .is_some_and(|d| friends::is_friend(d, account))
        })
    }

    /// What a stranger `peer` (with `account`, if proven) may not receive.
    fn secrets(&mut self, account: Option<AccountId>) -> Secrets {
        let mut needles = Vec::new();
        let friends_doc = self.docs.own(DocKind::Friends);
        let mut ids: Vec<(String, AccountId)> = friends::accounts(friends_doc)
            .into_iter()
            .map(|a| ("a friend's account id".to_string(), a))
            .collect();
        ids.extend(
            self.store
                .blocked()
                .unwrap_or_default()
                .into_iter()
                .map(|a| ("a blocked account id".to_string(), a)),
        );
        let mut owners = vec![self.identity.account()];
        for (what, id) in ids {
            if Some(id) == account {
                continue;
            }
            needles.push((what.clone(), id.as_bytes().to_vec()));
            needles.push((what, id.to_string().into_bytes()));
            owners.push(id);
        }
        for owner in owners {
            let Some(doc) = self.doc_ref(&owner, DocKind::ProfilePrivate) else {
                continue;
            };
            for (field, value) in profile::fields(doc) {
                if value.len() >= MIN_CANARY_LEN {
                    needles.push((format!("friends-only field `{field}`"), value.into_bytes()));
                }
            }
        }
        Secrets { needles }
    }
}
