//! Whole documents from peers, the most exposed decoder: the guard
//! (`kith_crdt::guard::check_document`, `document_heads`), the guarded
//! load `kith_crdt::Doc::from_peer`, and what the node does next with a
//! loaded document (merge it into its copy, read it through the typed
//! views); and `kith_protocol::sync::open_document` for the fixed owner,
//! once with no signatures and once with every listed head signed by the
//! owner's fixed device (so the load and the author check behind the
//! signature check are reached), as a profile or (odd-length inputs) an
//! identity document, with another device of the owner revoked.
//!
//! Each input is tried as it is and, if it is an Automerge chunk with a
//! wrong checksum, with the checksum repaired (otherwise almost every
//! mutation would stop at the checksum).
#![no_main]

use kith_crdt::{Doc, DocKind, feed, friends, guard, identity, identity::Revocation, profile};
use kith_keys::sign::Context;
use kith_protocol::sync::{ChangeSignatures, Cutoffs, change_payload, open_document};
use libfuzzer_sys::fuzz_target;

/// Most listed heads the harness signs (each costs a signature).
const MAX_SIGNED_HEADS: usize = 8;

/// A revocation of another device of the owner (not the one that signs),
/// so the cut-off checks run on every loaded document. Made once per kind.
fn cutoffs(kind: DocKind) -> &'static Cutoffs {
    static PROFILE: std::sync::OnceLock<Cutoffs> = std::sync::OnceLock::new();
    static IDENTITY: std::sync::OnceLock<Cutoffs> = std::sync::OnceLock::new();
    let cell = if kind == DocKind::Identity {
        &IDENTITY
    } else {
        &PROFILE
    };
    cell.get_or_init(|| {
        let f = kith_fuzz::fixture();
        let other = kith_keys::DeviceKey::from_seed(&[0x66; 32]).id();
        let revocation = Revocation::issue(&f.owner, other, kith_fuzz::NOW, [1; 6]);
        Cutoffs::of(&[revocation], kind)
    })
}

fn read_views(doc: &mut Doc) {
    let f = kith_fuzz::fixture();
    let _ = doc.heads();
    let _ = profile::fields(doc);
    let _ = feed::posts(doc);
    let _ = identity::links(doc);
    let _ = identity::devices(doc, &f.owner_id);
    let _ = identity::revocations(doc, &f.owner_id);
    let _ = friends::list(doc);
    let _ = friends::accounts(doc);
    let _ = friends::blocked(doc);
    let _ = friends::is_friend(doc, &f.peer_id);
}

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        let f = kith_fuzz::fixture();
        for bytes in kith_fuzz::with_fixed_checksum(data) {
            let bytes: &[u8] = &bytes;
            let checked = guard::check_document(bytes);
            let heads = guard::document_heads(bytes);
            if let Ok(header) = &checked {
                assert_eq!(heads.as_ref().ok(), Some(&header.heads), "heads agree");
            }
            if let Ok(mut doc) = Doc::from_peer(bytes, &f.device_id) {
                read_views(&mut doc);
                let mut mine = Doc::new(&f.device_id);
                if mine.merge(&mut doc).is_ok() {
                    read_views(&mut mine);
                }
            }
            // Identity documents get extra checks (revocation edits).
            let kind = if data.len() % 2 == 0 {
                DocKind::Profile
            } else {
                DocKind::Identity
            };
            let cutoffs = cutoffs(kind);
            let _ = open_document(
                &f.owner_id,
                kind,
                bytes,
                &ChangeSignatures::default(),
                cutoffs,
                &f.device_id,
            );
            if let Ok(heads) = heads
                && !heads.is_empty()
                && heads.len() <= MAX_SIGNED_HEADS
            {
                let mut signed = ChangeSignatures::default();
                for head in &heads {
                    let signature =
                        f.device.sign(Context::DocumentChange, &change_payload(&f.owner_id, kind, head));
                    signed.push(*head, signature, &f.cert);
                }
                if let Ok((mut doc, _vouched)) =
                    open_document(&f.owner_id, kind, bytes, &signed, cutoffs, &f.device_id)
                {
                    read_views(&mut doc);
                }
            }
        }
    });
});
