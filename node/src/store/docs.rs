//! Saved documents. Each save is flushed: callers report success only after it.

use super::{Store, StoreError, Tree};

impl Store {
    /// Replace the saved bytes of document `name` and flush.
    pub fn save_doc(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.tree(Tree::Docs).insert(name.as_bytes(), bytes)?;
        self.flush()
    }

    pub fn load_doc(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree(Tree::Docs)
            .get(name.as_bytes())?
            .map(|v| v.to_vec()))
    }
}
