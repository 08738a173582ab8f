//! Serving `/kith/sync/1`: the serving rule, per-peer budgets, and whole
//! documents from a cache of compacted snapshots.
//!
//! Every request is paid for before it is served: documents looked up come
//! out of the peer's item budget, and a peer that is not this account or a
//! friend gets at most the bytes it sent plus a small allowance
//! ([`STRANGER_BYTES_BURST`], refilled at [`STRANGER_BYTES_PER_SEC`]), so a
//! stranger cannot use this node to amplify its traffic. Over budget, the
//! answer is `Busy` (a few bytes) and the peer retries later.

use std::collections::{HashMap, VecDeque};

use kith_crdt::{DocKind, Hash, friends};
use kith_keys::AccountId;
use kith_protocol::{
    rate::TokenBucket,
    replication::{self, Served},
    sync::{
        ChangeSignatures, CheckGroup, MAX_DOCUMENT_BYTES, MAX_SYNC_ITEMS, MAX_SYNC_RESPONSE_BYTES,
        PullItem, PullOutcome, PullResult, SyncRequest, SyncResponse, heads_digest,
    },
};
use libp2p::PeerId;

use super::{NodeActor, sync::MAX_CHECK_GROUPS};

/// Documents a friend or own device may have looked up at once (a
/// reconnect of a node with thousands of friends checks them all) ...
pub const CLOSE_ITEMS_BURST: u64 = 100_000;
/// ... and per second after that.
pub const CLOSE_ITEMS_PER_SEC: u64 = 5_000;

/// Documents any other peer may have looked up at once ...
pub const STRANGER_ITEMS_BURST: u64 = 256;
/// ... and per second after that.
pub const STRANGER_ITEMS_PER_SEC: u64 = 8;

/// Response bytes a peer that is neither this account nor a friend may
/// receive beyond what it sent ...
pub const STRANGER_BYTES_BURST: u64 = 64 * 1024;
/// ... refilled at this rate.
pub const STRANGER_BYTES_PER_SEC: u64 = 1024;

/// Smallest byte budget worth starting a response with.
const MIN_RESPONSE_BYTES: u64 = 1024;

/// Compacted snapshots kept for whole-document answers, in bytes in all.
pub const SNAPSHOT_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Room a whole-document answer takes beyond the document's bytes
/// (signatures and certificates of its heads, framing).
const DOCUMENT_OVERHEAD: usize = 4096;

type DocRef = (AccountId, DocKind);

/// What one connected peer may still ask of this node.
#[derive(Debug)]
pub(super) struct ServeBudget {
    /// Whether the budget is a friend's (or own device's): set when made,
    /// and the budget is made again when the peer's standing changes.
    close: bool,
    items: TokenBucket,
    /// Response bytes, for peers that are not close.
    bytes: TokenBucket,
}

impl ServeBudget {
    fn new(close: bool, now_ms: u64) -> Self {
        let items = if close {
            TokenBucket::full(CLOSE_ITEMS_BURST, CLOSE_ITEMS_PER_SEC, now_ms)
        } else {
            TokenBucket::full(STRANGER_ITEMS_BURST, STRANGER_ITEMS_PER_SEC, now_ms)
        };
        ServeBudget {
            close,
            items,
            bytes: TokenBucket::full(STRANGER_BYTES_BURST, STRANGER_BYTES_PER_SEC, now_ms),
        }
    }
}

/// Whole documents as last served, by heads: a flood of pulls for the same
/// document costs one compaction, not one each.
#[derive(Debug, Default)]
pub(super) struct SnapshotCache {
    entries: HashMap<DocRef, (Vec<Hash>, Vec<u8>)>,
    order: VecDeque<DocRef>,
    bytes: usize,
}

impl SnapshotCache {
    fn get(&self, doc: &DocRef, heads: &[Hash]) -> Option<&[u8]> {
        self.entries
            .get(doc)
            .filter(|(h, _)| h == heads)
            .map(|(_, bytes)| bytes.as_slice())
    }

    fn put(&mut self, doc: DocRef, heads: Vec<Hash>, bytes: Vec<u8>) {
        if let Some((_, old)) = self.entries.remove(&doc) {
            self.bytes -= old.len();
            self.order.retain(|d| *d != doc);
        }
        if bytes.len() > SNAPSHOT_CACHE_BYTES {
            return;
        }
        while self.bytes + bytes.len() > SNAPSHOT_CACHE_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, old)) = self.entries.remove(&oldest) {
                self.bytes -= old.len();
            }
        }
        self.bytes += bytes.len();
        self.order.push_back(doc);
        self.entries.insert(doc, (heads, bytes));
    }
}

/// What this node holds, for the shared serving code.
impl replication::Holder for NodeActor {
    fn doc(&mut self, owner: &AccountId, kind: DocKind) -> Option<&mut kith_crdt::Doc> {
        self.doc_mut(owner, kind)
    }

    fn signature(
        &mut self,
        owner: &AccountId,
        kind: DocKind,
        hash: &Hash,
    ) -> Option<(kith_keys::DeviceCert, kith_keys::Signature)> {
        match self.store.change_signature(owner, kind, hash) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a change signature");
                None
            }
        }
    }

    fn friends_of(&mut self, owner: &AccountId) -> Vec<AccountId> {
        self.doc_ref(owner, DocKind::Friends)
            .map(friends::accounts)
            .unwrap_or_default()
    }
}

impl NodeActor {
    /// Answer a sync request that took `request_bytes` on the wire, within
    /// the peer's budget.
    pub(super) fn serve_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        request_bytes: u64,
    ) -> SyncResponse {
        let now = crate::now_ms();
        let requester = self.requester(&peer);
        let me = self.identity.account();
        let close = requester
            .is_some_and(|a| a == me || friends::is_friend(self.docs.own(DocKind::Friends), &a));
        let budget = self
            .replication
            .budgets
            .entry(peer)
            .or_insert_with(|| ServeBudget::new(close, now));
        if budget.close != close {
            *budget = ServeBudget::new(close, now);
        }
        budget.bytes.credit(request_bytes);
        let items = match &request {
            SyncRequest::Pull(items) => items.len().min(MAX_SYNC_ITEMS),
            SyncRequest::Check(groups) => groups
                .iter()
                .take(MAX_CHECK_GROUPS)
                .map(|g| g.docs.len())
                .sum(),
        } as u64;
        let byte_budget = if close {
            MAX_SYNC_RESPONSE_BYTES * 3 / 4
        } else {
            budget
                .bytes
                .available(now)
                .min(MAX_SYNC_RESPONSE_BYTES * 3 / 4)
        };
        if byte_budget < MIN_RESPONSE_BYTES || !budget.items.take(items, now) {
            self.replication.busy += 1;
            tracing::debug!(%peer, items, "over its serving budget; answered busy");
            return SyncResponse::Busy;
        }
        let mut left = usize::try_from(byte_budget).unwrap_or(usize::MAX);
        let response = match request {
            SyncRequest::Pull(items) => {
                SyncResponse::Pull(self.serve(peer, requester.as_ref(), items, &mut left))
            }
            SyncRequest::Check(groups) => {
                let masks = self.serve_check(requester.as_ref(), groups);
                left = left.saturating_sub(masks.len());
                SyncResponse::Check(masks)
            }
        };
        if !close && let Some(budget) = self.replication.budgets.get_mut(&peer) {
            let used = byte_budget.saturating_sub(left as u64);
            budget.bytes.spend(used, now);
        }
        response
    }

    /// Who is asking, for the serving rule: `None` for a stranger, and for
    /// a revoked device (public documents only).
    fn requester(&mut self, peer: &PeerId) -> Option<AccountId> {
        let account = self.peers.get(peer).and_then(|p| p.account)?;
        match crate::net::device_of(peer) {
            Some(device) if self.is_revoked(&account, &device) => None,
            _ => Some(account),
        }
    }

    fn allowed(&mut self, requester: Option<&AccountId>, owner: &AccountId, kind: DocKind) -> bool {
        replication::allowed(self, requester, owner, kind)
    }

    /// Answer a check: a document is worth pulling if our copy's heads
    /// differ, or if the requester may not read it (the pull then says so;
    /// a digest is never compared for a document the requester may not read).
    fn serve_check(&mut self, requester: Option<&AccountId>, groups: Vec<CheckGroup>) -> Vec<u8> {
        let mut masks = Vec::new();
        for group in groups.into_iter().take(MAX_CHECK_GROUPS) {
            let mut mask = 0u8;
            for (i, (kind, digest)) in group.docs.iter().enumerate() {
                let differs = if !self.allowed(requester, &group.owner, *kind) {
                    true
                } else {
                    match self.doc_mut(&group.owner, *kind) {
                        Some(doc) => heads_digest(&doc.heads()) != *digest,
                        None => false,
                    }
                };
                if differs {
                    mask |= 1 << i;
                }
            }
            masks.push(mask);
        }
        masks
    }

    /// Answer a pull under the serving rule: public documents to anyone,
    /// the rest only to the owner's devices and the owner's friends, within
    /// `budget` bytes.
    fn serve(
        &mut self,
        peer: PeerId,
        requester: Option<&AccountId>,
        request: Vec<PullItem>,
        budget: &mut usize,
    ) -> Vec<PullResult> {
        let mut items = Vec::new();
        for item in request.into_iter().take(MAX_SYNC_ITEMS) {
            let outcome = self.serve_item(requester, &item, budget);
            self.replication.served += 1;
            if matches!(outcome, PullOutcome::Denied) {
                self.replication.denied += 1;
                tracing::info!(%peer, owner = %item.owner, doc = %item.doc, "denied a pull (not a friend of the owner)");
            }
            items.push(PullResult {
                owner: item.owner,
                doc: item.doc,
                outcome,
            });
        }
        items
    }

    fn serve_item(
        &mut self,
        requester: Option<&AccountId>,
        item: &PullItem,
        budget: &mut usize,
    ) -> PullOutcome {
        match replication::serve_item(self, requester, item, budget) {
            Served::Outcome(outcome) => outcome,
            Served::WholeWanted => match self.whole_document(&item.owner, item.doc, budget) {
                Some(whole) => whole,
                None => replication::changes_answer(self, item, budget),
            },
        }
    }

    /// The whole document with its heads' signatures, if it fits the
    /// budget: from the snapshot cache while the heads are the same.
    fn whole_document(
        &mut self,
        owner: &AccountId,
        kind: DocKind,
        budget: &mut usize,
    ) -> Option<PullOutcome> {
        let doc = self.doc_mut(owner, kind)?;
        let heads = doc.heads();
        let key = (*owner, kind);
        let bytes = match self.replication.snapshots.get(&key, &heads) {
            Some(bytes) => bytes.to_vec(),
            None => {
                let doc = self.doc_mut(owner, kind)?;
                let bytes = doc.snapshot().ok()?;
                self.replication
                    .snapshots
                    .put(key, heads.clone(), bytes.clone());
                bytes
            }
        };
        if bytes.len() > MAX_DOCUMENT_BYTES || bytes.len() + DOCUMENT_OVERHEAD > *budget {
            tracing::debug!(%owner, doc = %kind, bytes = bytes.len(), budget = *budget, "the whole document does not fit this answer");
            return None;
        }
        let genesis = kith_crdt::genesis_hash();
        let mut signed = ChangeSignatures::default();
        for head in heads.into_iter().filter(|h| *h != genesis) {
            match self.store.change_signature(owner, kind, &head) {
                Ok(Some((cert, signature))) => signed.push(head, signature, &cert),
                _ => {
                    tracing::warn!(%owner, doc = %kind, "a head has no stored signature; not serving the whole document");
                    return None;
                }
            }
        }
        *budget -= bytes.len() + DOCUMENT_OVERHEAD;
        Some(PullOutcome::Document { doc: bytes, signed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_cache_is_bounded_in_bytes() {
        let mut cache = SnapshotCache::default();
        let owner = kith_keys::AccountKey::from_seed(&[1; 32]).id();
        let big = vec![0u8; SNAPSHOT_CACHE_BYTES / 2 + 1];
        cache.put((owner, DocKind::Profile), vec![[1; 32]], big.clone());
        cache.put((owner, DocKind::Feed), vec![[2; 32]], big.clone());
        assert!(cache.bytes <= SNAPSHOT_CACHE_BYTES);
        assert!(cache.get(&(owner, DocKind::Profile), &[[1; 32]]).is_none());
        assert!(cache.get(&(owner, DocKind::Feed), &[[2; 32]]).is_some());
        assert!(
            cache.get(&(owner, DocKind::Feed), &[[3; 32]]).is_none(),
            "other heads miss"
        );
        cache.put((owner, DocKind::Feed), vec![[3; 32]], vec![1, 2, 3]);
        assert_eq!(cache.bytes, 3);
        cache.put(
            (owner, DocKind::Identity),
            vec![],
            vec![0; SNAPSHOT_CACHE_BYTES + 1],
        );
        assert_eq!(cache.bytes, 3, "too big to keep at all");
    }
}
