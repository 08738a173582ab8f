//! `Doc`: an Automerge document written by one device (actor id = device public key).

use automerge::{
    ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc as _, transaction::Transactable as _,
};
use kith_keys::DeviceId;

use crate::DocError;

/// A document as this device holds it. Every change it makes carries this
/// device's public key as the Automerge actor id.
#[derive(Debug)]
pub struct Doc {
    inner: AutoCommit,
}

impl Doc {
    /// A new, empty document written by `device`.
    pub fn new(device: &DeviceId) -> Self {
        Doc {
            inner: AutoCommit::new().with_actor(ActorId::from(device.as_bytes())),
        }
    }

    /// Load saved bytes; new changes will be written by `device`.
    pub fn load(bytes: &[u8], device: &DeviceId) -> Result<Self, DocError> {
        let inner = load_guarded(bytes)?.with_actor(ActorId::from(device.as_bytes()));
        Ok(Doc { inner })
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.inner.save()
    }

    /// The map at `ROOT[key]`, created if missing.
    pub(crate) fn root_map(&mut self, key: &str) -> Result<ObjId, DocError> {
        match self.inner.get(ROOT, key)? {
            Some((value, id)) if value.is_object() => Ok(id),
            _ => Ok(self.inner.put_object(ROOT, key, ObjType::Map)?),
        }
    }

    /// The map at `ROOT[key]` if it exists (read-only paths never create it).
    pub(crate) fn existing_root_map(&self, key: &str) -> Option<ObjId> {
        match self.inner.get(ROOT, key) {
            Ok(Some((value, id))) if value.is_object() => Some(id),
            _ => None,
        }
    }

    pub(crate) fn inner(&self) -> &AutoCommit {
        &self.inner
    }

    pub(crate) fn inner_mut(&mut self) -> &mut AutoCommit {
        &mut self.inner
    }

    /// Close the pending transaction into one change.
    pub(crate) fn commit(&mut self) {
        self.inner.commit();
    }
}

/// automerge 0.12 can panic on malformed input with valid checksums; bytes
/// from disk or peers are loaded under `catch_unwind` so a bad record is an
/// error, never a crash.
fn load_guarded(bytes: &[u8]) -> Result<AutoCommit, DocError> {
    let owned = bytes.to_vec();
    match std::panic::catch_unwind(move || AutoCommit::load(&owned)) {
        Ok(result) => Ok(result?),
        Err(_) => Err(DocError::Corrupt("automerge panicked while loading".into())),
    }
}
