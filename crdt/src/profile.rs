//! Profile documents: key/value fields. The public fields and the
//! friends-only fields live in two separate documents (`profile` and
//! `profile-private`), so public replication never carries private data.
//!
//! ```text
//! ROOT.fields.<name> = str
//! ```

use std::collections::BTreeMap;

use automerge::{ReadDoc as _, transaction::Transactable as _};

use crate::{Doc, DocError};

const FIELDS: &str = "fields";

/// Longest field name, in bytes.
pub const MAX_FIELD_NAME_LEN: usize = 64;

/// Longest field value, in bytes.
pub const MAX_FIELD_VALUE_LEN: usize = 16 * 1024;

/// Most fields in one profile document.
pub const MAX_FIELDS: usize = 256;

pub fn set(doc: &mut Doc, field: &str, value: &str) -> Result<(), DocError> {
    check(field, value)?;
    let fields = doc.root_map(FIELDS)?;
    if get(doc, field).is_none() && self::fields(doc).len() >= MAX_FIELDS {
        return Err(DocError::Limit(format!(
            "a profile holds at most {MAX_FIELDS} fields"
        )));
    }
    doc.inner_mut().put(&fields, field, value)?;
    Ok(())
}

/// Returns whether the field was there.
pub fn unset(doc: &mut Doc, field: &str) -> Result<bool, DocError> {
    let Some(fields) = doc.existing_root_map(FIELDS) else {
        return Ok(false);
    };
    if doc.inner().get(&fields, field)?.is_none() {
        return Ok(false);
    }
    doc.inner_mut().delete(&fields, field)?;
    Ok(true)
}

/// One field's text value, from the kept view of the fields (a profile is
/// asked about one field on every edit: whether it is in the other
/// document, whether it is new; the view is kept until the next edit).
pub fn get(doc: &Doc, field: &str) -> Option<String> {
    kept_fields(doc).get(field).cloned()
}

/// Every field with a text value (others, from a newer writer, are skipped).
pub fn fields(doc: &Doc) -> BTreeMap<String, String> {
    kept_fields(doc).as_ref().clone()
}

fn kept_fields(doc: &Doc) -> std::sync::Arc<BTreeMap<String, String>> {
    doc.views().fields.get(&(), || doc.read(fields_unguarded))
}

fn fields_unguarded(doc: &Doc) -> BTreeMap<String, String> {
    let Some(fields) = doc.existing_root_map(FIELDS) else {
        return BTreeMap::new();
    };
    doc.inner()
        .keys(&fields)
        .filter_map(|k| {
            let (value, _) = doc.inner().get(&fields, k.as_str()).ok()??;
            Some((k.clone(), value.as_str()?.to_string()))
        })
        .collect()
}

fn check(field: &str, value: &str) -> Result<(), DocError> {
    let valid_name = !field.is_empty()
        && field.len() <= MAX_FIELD_NAME_LEN
        && field
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.".contains(c));
    if !valid_name {
        return Err(DocError::Limit(format!(
            "field names are 1 to {MAX_FIELD_NAME_LEN} letters, digits, '_', '-' or '.'"
        )));
    }
    if value.len() > MAX_FIELD_VALUE_LEN {
        return Err(DocError::Limit(format!(
            "a field value is at most {MAX_FIELD_VALUE_LEN} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::DeviceKey;

    #[test]
    fn set_get_unset() {
        let mut doc = Doc::new(&DeviceKey::from_seed(&[1; 32]).id());
        set(&mut doc, "name", "Ada").unwrap();
        set(&mut doc, "bio", "hi").unwrap();
        doc.commit();
        assert_eq!(get(&doc, "name").as_deref(), Some("Ada"));
        assert!(unset(&mut doc, "bio").unwrap());
        assert!(!unset(&mut doc, "bio").unwrap());
        assert_eq!(fields(&doc).len(), 1);
    }

    #[test]
    fn limits_are_enforced() {
        let mut doc = Doc::new(&DeviceKey::from_seed(&[1; 32]).id());
        assert!(set(&mut doc, "", "x").is_err());
        assert!(set(&mut doc, "has space", "x").is_err());
        assert!(set(&mut doc, "big", &"x".repeat(MAX_FIELD_VALUE_LEN + 1)).is_err());
    }

    #[test]
    fn concurrent_edits_of_different_fields_merge() {
        let a = DeviceKey::from_seed(&[1; 32]).id();
        let b = DeviceKey::from_seed(&[2; 32]).id();
        let mut base = Doc::new(&a);
        set(&mut base, "name", "Ada").unwrap();
        let first = base.commit().unwrap();
        let mut other = Doc::new(&b);
        other.apply(vec![first]).unwrap();
        set(&mut base, "bio", "from a").unwrap();
        let from_a = base.commit().unwrap();
        set(&mut other, "city", "from b").unwrap();
        let from_b = other.commit().unwrap();
        base.apply(vec![from_b]).unwrap();
        other.apply(vec![from_a]).unwrap();
        assert_eq!(fields(&base), fields(&other));
        assert_eq!(fields(&base).len(), 3);
    }
}

#[cfg(test)]
mod independent_copies {
    use super::*;
    use kith_keys::DeviceKey;

    /// Two devices that start the same document apart (a new device edits
    /// before its first sync) must not hide each other's fields.
    #[test]
    fn documents_started_apart_merge_without_loss() {
        let mut a = Doc::new(&DeviceKey::from_seed(&[1; 32]).id());
        let mut b = Doc::new(&DeviceKey::from_seed(&[2; 32]).id());
        set(&mut a, "name", "Ann").unwrap();
        let from_a = a.commit().unwrap();
        set(&mut b, "city", "Lisbon").unwrap();
        let from_b = b.commit().unwrap();
        a.apply(vec![from_b]).unwrap();
        b.apply(vec![from_a]).unwrap();
        assert_eq!(fields(&a), fields(&b));
        assert_eq!(fields(&a).len(), 2, "{:?}", fields(&a));
    }
}
