//! Posts and bridges on the actor side: writing posts into the feed, the
//! durable outbox towards bridge plugins, and the bridges themselves.

use std::collections::{BTreeMap, HashMap, HashSet};

use kith_crdt::{
    DocKind,
    feed::{self, Post},
};
use kith_keys::AccountId;
use kith_protocol::bridge::{Description, Publish, Published, UpdateProfile};

use super::{Internal, NodeActor};
use crate::refusal::PostsRefusal;
use crate::{
    bridges::{self, BridgeConfig, BridgeHandle, BridgeStatus, CallError},
    node::{BridgeInfo, FeedPost, NodeError, Reply, Visibility},
    store::{Delivery, DeliveryState},
    unix_now,
};

/// Delivery attempts before a post is marked failed for a bridge.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 12;

/// Longest pause between two attempts.
pub const MAX_RETRY_DELAY_SECS: u64 = 600;

/// Deliveries handed to one bridge at once.
pub const MAX_INFLIGHT_PER_BRIDGE: usize = 4;

/// Most posts `feed` returns at once.
pub const MAX_FEED_LIMIT: usize = 1000;

/// The actor's bridge state.
#[derive(Debug, Default)]
pub(super) struct Bridges {
    pub running: BTreeMap<String, BridgeHandle>,
    /// (post, bridge) pairs handed to a bridge and not answered yet.
    inflight: HashSet<(String, String)>,
}

impl NodeActor {
    /// Start every configured bridge.
    pub(super) fn start_bridges(&mut self) {
        let (configs, bad) = BridgeConfig::load_all(&self.bridges_dir);
        for e in bad {
            tracing::error!(error = %e, "skipping a bridge");
        }
        for config in configs {
            let state_dir = self.bridges_dir.join(&config.name);
            self.bridges
                .running
                .insert(config.name.clone(), bridges::spawn(config, state_dir));
        }
    }

    pub(super) fn post(
        &mut self,
        text: String,
        visibility: Visibility,
        only: Option<Vec<String>>,
    ) -> Result<String, NodeError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| NodeError::Network(format!("no randomness: {e}")))?;
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let targets: Vec<String> = match (&only, visibility) {
            (Some(names), _) => {
                if let Some(unknown) = names
                    .iter()
                    .find(|n| !self.bridges.running.contains_key(*n))
                {
                    return Err(NodeError::refused(
                        PostsRefusal::NoSuchBridge,
                        format!("no bridge named `{unknown}` (see kith bridge list)"),
                    ));
                }
                names.clone()
            }
            // Friends-only posts never leave for a platform unless a bridge is named.
            (None, Visibility::Friends) => Vec::new(),
            (None, Visibility::Public) => self.bridges.running.keys().cloned().collect(),
        };
        let kind = match visibility {
            Visibility::Public => DocKind::Feed,
            Visibility::Friends => DocKind::FeedPrivate,
        };
        let post = Post {
            id: id.clone(),
            text,
            at: unix_now(),
            device: self.identity.device(),
        };
        let deliveries: Vec<Delivery> = targets
            .into_iter()
            .map(|bridge| Delivery {
                post: id.clone(),
                bridge,
                state: DeliveryState::Pending,
                attempts: 0,
                error: None,
                url: None,
                next_at: 0,
            })
            .collect();
        // The outbox first, unflushed; the post's change and its flush
        // then make both durable together, so a crash leaves either both
        // or neither (a post that never reaches its bridges was possible
        // when the outbox came second).
        self.store.stage_new_deliveries(&deliveries)?;
        if let Err(e) = self.edit_own(kind, |d| feed::add(d, &post)) {
            self.store.unstage_deliveries(&deliveries)?;
            return Err(e);
        }
        if super::failpoint("abort-after-post") {
            std::process::abort();
        }
        self.deliver_due();
        Ok(id)
    }

    /// Posts, newest first: own, one account's, or (with `all`) all friends'.
    pub(super) fn feed(
        &mut self,
        account: Option<AccountId>,
        all: bool,
        limit: usize,
    ) -> Vec<FeedPost> {
        let me = self.identity.account();
        let owners: Vec<AccountId> = if all {
            kith_crdt::friends::accounts(self.docs.own(DocKind::Friends))
        } else {
            vec![account.unwrap_or(me)]
        };
        let mut posts = Vec::new();
        for owner in owners {
            for (kind, visibility) in [
                (DocKind::Feed, Visibility::Public),
                (DocKind::FeedPrivate, Visibility::Friends),
            ] {
                if let Some(doc) = self.doc_ref(&owner, kind) {
                    posts.extend(feed::posts(doc).into_iter().map(|post| FeedPost {
                        account: owner,
                        post,
                        visibility,
                    }));
                }
            }
        }
        posts.sort_by(|a, b| {
            b.post
                .at
                .cmp(&a.post.at)
                .then_with(|| b.post.id.cmp(&a.post.id))
        });
        posts.truncate(limit.clamp(1, MAX_FEED_LIMIT));
        posts
    }

    pub(super) fn post_status(&self, post: &str) -> Result<Vec<Delivery>, NodeError> {
        let own = [DocKind::Feed, DocKind::FeedPrivate]
            .into_iter()
            .any(|k| feed::get(self.docs.own(k), post).is_some());
        if !own {
            return Err(NodeError::refused(
                PostsRefusal::NoSuchPost,
                format!("no post {post} of yours"),
            ));
        }
        Ok(self.store.deliveries_of(post)?)
    }

    /// Hand every due, unfinished delivery to its bridge (a few per bridge at a time).
    pub(super) fn deliver_due(&mut self) {
        let now = unix_now();
        let mut busy: HashMap<String, usize> = HashMap::new();
        for (_, bridge) in &self.bridges.inflight {
            *busy.entry(bridge.clone()).or_default() += 1;
        }
        // Once every bridge has its fill in flight, the rest of the outbox
        // waits: reading it all after every answer would cost O(outbox²).
        let saturated = |busy: &HashMap<String, usize>,
                         running: &BTreeMap<String, BridgeHandle>| {
            !running.is_empty()
                && running
                    .keys()
                    .all(|b| busy.get(b).copied().unwrap_or(0) >= MAX_INFLIGHT_PER_BRIDGE)
        };
        if saturated(&busy, &self.bridges.running) {
            return;
        }
        let store = self.store.clone();
        for delivery in store.unfinished_deliveries() {
            let delivery = match delivery {
                Ok(d) => d,
                Err(e) => return tracing::error!(error = %e, "cannot read the bridge outbox"),
            };
            if saturated(&busy, &self.bridges.running) {
                break;
            }
            if delivery.next_at > now {
                continue;
            }
            let key = (delivery.post.clone(), delivery.bridge.clone());
            let per_bridge = busy.get(&delivery.bridge).copied().unwrap_or(0);
            if self.bridges.inflight.contains(&key) || per_bridge >= MAX_INFLIGHT_PER_BRIDGE {
                continue;
            }
            let Some(handle) = self.bridges.running.get(&delivery.bridge).cloned() else {
                let mut failed = delivery;
                failed.state = DeliveryState::Failed;
                failed.error = Some("the bridge was removed".into());
                let _ = self.store.put_delivery(&failed);
                continue;
            };
            let Some(post) = [DocKind::Feed, DocKind::FeedPrivate]
                .into_iter()
                .find_map(|k| feed::get(self.docs.own(k), &delivery.post))
            else {
                // Staged for a post whose change was never stored (a crash
                // between the two): nothing to deliver.
                let mut failed = delivery;
                failed.state = DeliveryState::Failed;
                failed.error = Some("the post was never stored".into());
                let _ = self.store.put_delivery(&failed);
                continue;
            };
            let params = Publish {
                post: post.id,
                text: post.text,
                at: post.at,
                account: self.identity.account().to_string(),
            };
            let Ok(params) = serde_json::to_value(params) else {
                continue;
            };
            self.bridges.inflight.insert(key);
            *busy.entry(delivery.bridge.clone()).or_default() += 1;
            self.children.spawn(async move {
                let result = handle.call("publish", params).await;
                Some(Internal::Delivered { delivery, result })
            });
        }
    }

    pub(super) fn handle_delivered(
        &mut self,
        mut delivery: Delivery,
        result: Result<serde_json::Value, CallError>,
    ) {
        self.bridges
            .inflight
            .remove(&(delivery.post.clone(), delivery.bridge.clone()));
        delivery.attempts += 1;
        match result.map(serde_json::from_value::<Published>) {
            Ok(Ok(published)) => {
                delivery.state = DeliveryState::Delivered;
                delivery.url = published.url;
                delivery.error = None;
            }
            Ok(Err(e)) => {
                delivery.state = DeliveryState::Failed;
                delivery.error = Some(format!("the bridge answered nonsense: {e}"));
            }
            Err(CallError::Permanent(message)) => {
                delivery.state = DeliveryState::Failed;
                delivery.error = Some(message);
            }
            Err(CallError::Transient(message)) if delivery.attempts >= MAX_DELIVERY_ATTEMPTS => {
                delivery.state = DeliveryState::Failed;
                delivery.error = Some(format!(
                    "gave up after {} attempts: {message}",
                    delivery.attempts
                ));
            }
            Err(CallError::Transient(message)) => {
                delivery.state = DeliveryState::Retrying;
                delivery.error = Some(message);
                delivery.next_at =
                    unix_now() + (1u64 << delivery.attempts.min(10)).min(MAX_RETRY_DELAY_SECS);
            }
        }
        tracing::info!(post = %delivery.post, bridge = %delivery.bridge, state = delivery.state.as_str(), "delivery");
        if let Err(e) = self.store.put_delivery(&delivery) {
            tracing::error!(error = %e, "cannot record a delivery");
        }
        self.deliver_due();
    }

    /// Start a bridge and keep it once it runs with its settings.
    pub(super) fn add_bridge(&mut self, config: BridgeConfig, reply: Reply<BridgeInfo>) {
        if !bridges::config_name_ok(&config.name) {
            let _ = reply.send(Err(NodeError::refused(
                PostsRefusal::InvalidBridge,
                "bridge names are 1 to 32 lower-case letters, digits or '-'",
            )));
            return;
        }
        if self.bridges.running.contains_key(&config.name) {
            let _ = reply.send(Err(NodeError::refused(
                PostsRefusal::BridgeExists,
                format!("a bridge named `{}` exists; remove it first", config.name),
            )));
            return;
        }
        if self.bridges.running.len() >= bridges::MAX_BRIDGES {
            let _ = reply.send(Err(NodeError::refused(
                PostsRefusal::TooManyBridges,
                format!("at most {} bridges", bridges::MAX_BRIDGES),
            )));
            return;
        }
        let mut handle = bridges::spawn(config.clone(), self.bridges_dir.join(&config.name));
        self.children.spawn(async move {
            let status = handle.ready().await;
            Some(Internal::BridgeStarted {
                handle,
                status,
                reply,
            })
        });
    }

    pub(super) fn bridge_started(
        &mut self,
        handle: BridgeHandle,
        status: BridgeStatus,
        reply: Reply<BridgeInfo>,
    ) {
        let name = handle.config.name.clone();
        match status {
            BridgeStatus::Running(_) => {
                if let Err(e) = handle.config.save(&self.bridges_dir) {
                    let _ = reply.send(Err(NodeError::Store(e.to_string())));
                    return;
                }
                let info = bridge_info(&handle);
                self.bridges.running.insert(name, handle);
                let _ = reply.send(Ok(info));
            }
            BridgeStatus::Failed(message) | BridgeStatus::Restarting(message) => {
                let _ = reply.send(Err(NodeError::refused(
                    PostsRefusal::BridgeRefused,
                    format!("bridge `{name}` did not start: {message}"),
                )));
            }
            BridgeStatus::Starting => {
                let _ = reply.send(Err(NodeError::refused(
                    PostsRefusal::BridgeRefused,
                    format!("bridge `{name}` did not start in time"),
                )));
            }
        }
    }

    pub(super) fn remove_bridge(&mut self, name: &str) -> Result<(), NodeError> {
        if self.bridges.running.remove(name).is_none() {
            return Err(NodeError::refused(
                PostsRefusal::NoSuchBridge,
                format!("no bridge named `{name}`"),
            ));
        }
        BridgeConfig::remove(&self.bridges_dir, name)
            .map_err(|e| NodeError::Store(e.to_string()))?;
        Ok(())
    }

    pub(super) fn bridge_list(&self) -> Vec<BridgeInfo> {
        self.bridges.running.values().map(bridge_info).collect()
    }

    /// Push the profile's name and bio to bridges that can show them (best effort).
    pub(super) fn push_profile_to_bridges(&mut self) {
        let public = self.docs.own(DocKind::Profile);
        let update = UpdateProfile {
            display_name: kith_crdt::profile::get(public, "name"),
            bio: kith_crdt::profile::get(public, "bio"),
        };
        let Ok(params) = serde_json::to_value(update) else {
            return;
        };
        for handle in self.bridges.running.values() {
            let capable = matches!(handle.status(), BridgeStatus::Running(Description { ref capabilities, .. }) if capabilities.iter().any(|c| c == "profile"));
            if capable {
                let (handle, params) = (handle.clone(), params.clone());
                self.children.spawn(async move {
                    if let Err(e) = handle.call("update_profile", params).await {
                        tracing::warn!(bridge = %handle.config.name, error = %e, "profile update not pushed");
                    }
                    None
                });
            }
        }
    }
}

fn bridge_info(handle: &BridgeHandle) -> BridgeInfo {
    let (state, capabilities) = match handle.status() {
        BridgeStatus::Starting => ("starting".to_string(), Vec::new()),
        BridgeStatus::Running(d) => ("running".to_string(), d.capabilities),
        BridgeStatus::Restarting(why) => (format!("restarting: {why}"), Vec::new()),
        BridgeStatus::Failed(why) => (format!("failed: {why}"), Vec::new()),
    };
    BridgeInfo {
        name: handle.config.name.clone(),
        plugin: handle.config.plugin.clone(),
        state,
        capabilities,
    }
}
