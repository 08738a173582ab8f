//! The bridge outbox: one record per (post, bridge), and an index of those
//! not finished yet. Every state change is flushed before it is acted on.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Retrying,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, DeliveryState::Delivered | DeliveryState::Failed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub post: String,
    pub bridge: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub error: Option<String>,
    pub url: Option<String>,
    /// Unix seconds before which it is not tried again.
    pub next_at: u64,
}

fn key(post: &str, bridge: &str) -> Vec<u8> {
    format!("{post}/{bridge}").into_bytes()
}

impl Store {
    /// Record a delivery's state (and keep the unfinished index in step), flushed.
    pub fn put_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let k = key(&delivery.post, &delivery.bridge);
        self.put_json(Tree::Deliveries, &k, delivery)?;
        if delivery.state.is_final() {
            self.remove(Tree::DeliveriesUnfinished, &k)?;
        } else {
            self.tree(Tree::DeliveriesUnfinished).insert(&k, &[])?;
        }
        self.flush()
    }

    /// Write a new post's deliveries *without* flushing: the post's own
    /// document change, written and flushed right after, makes both
    /// durable at once (sled recovers a prefix of its log, so a flushed
    /// later write implies every earlier one).
    pub fn stage_new_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        for d in deliveries {
            let k = key(&d.post, &d.bridge);
            self.put_json(Tree::Deliveries, &k, d)?;
            self.tree(Tree::DeliveriesUnfinished).insert(&k, &[])?;
        }
        Ok(())
    }

    /// Undo [`Store::stage_new_deliveries`] when the post was not stored.
    pub fn unstage_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        for d in deliveries {
            let k = key(&d.post, &d.bridge);
            self.remove(Tree::Deliveries, &k)?;
            self.remove(Tree::DeliveriesUnfinished, &k)?;
        }
        Ok(())
    }

    pub fn deliveries_of(&self, post: &str) -> Result<Vec<Delivery>, StoreError> {
        let mut out = Vec::new();
        for entry in self
            .tree(Tree::Deliveries)
            .scan_prefix(format!("{post}/").as_bytes())
        {
            let (_, value) = entry?;
            if let Ok(d) = serde_json::from_slice(&value) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Deliveries not delivered or failed yet, oldest post first, read as
    /// the caller goes (it usually stops after a few per bridge).
    pub fn unfinished_deliveries(&self) -> impl Iterator<Item = Result<Delivery, StoreError>> + '_ {
        self.tree(Tree::DeliveriesUnfinished)
            .iter()
            .keys()
            .filter_map(|k| match k {
                Ok(k) => self.get_json::<Delivery>(Tree::Deliveries, &k).transpose(),
                Err(e) => Some(Err(e.into())),
            })
    }
}

/// What this node last found checking one link proof through a bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCheck {
    pub verified: bool,
    pub reason: Option<String>,
    /// Unix seconds.
    pub checked_at: u64,
}

fn link_key(owner: &kith_keys::AccountId, platform: &str, handle: &str) -> Vec<u8> {
    let mut key = owner.as_bytes().to_vec();
    key.extend_from_slice(format!("{}/{handle}", platform.to_lowercase()).as_bytes());
    key
}

impl Store {
    pub fn put_link_check(
        &self,
        owner: &kith_keys::AccountId,
        platform: &str,
        handle: &str,
        check: &LinkCheck,
    ) -> Result<(), StoreError> {
        self.put_json(Tree::LinkChecks, &link_key(owner, platform, handle), check)?;
        self.flush()
    }

    pub fn link_check(
        &self,
        owner: &kith_keys::AccountId,
        platform: &str,
        handle: &str,
    ) -> Result<Option<LinkCheck>, StoreError> {
        self.get_json(Tree::LinkChecks, &link_key(owner, platform, handle))
    }
}
