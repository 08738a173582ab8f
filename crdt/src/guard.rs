//! Bounded checks of Automerge bytes from outside, done before Automerge parses them.
//!
//! Automerge trusts its input's shape: it inflates compressed columns and
//! change chunks with an unbounded `read_to_end`, expands run-length columns
//! into as many rows as a count says, and sizes its per-change buffers from
//! the `max_op` numbers a document claims. A few KiB can so ask for GiB, and
//! running out of memory aborts the process (no `catch_unwind` helps). This
//! module walks the binary format itself (chunk headers, column layouts,
//! run lengths) with explicit budgets, inflating at most
//! [`MAX_INFLATED_BYTES`], so that what reaches Automerge costs at most
//! [`MAX_DOC_OPS`] operations and [`MAX_DOC_CHANGES`] changes.
//!
//! Wire rules it also enforces: a change arrives as one uncompressed change
//! chunk (its hash is then the SHA-256 of its own bytes and can be checked,
//! with the author's signature, before anything is inflated); a whole
//! document arrives as exactly one document chunk (nothing after it, so no
//! change can hide in Automerge's queue of changes waiting for their
//! dependencies).
//!
//! Format reference: <https://alexjg.github.io/automerge-storage-docs/>.

use std::io::Read as _;

use sha2::Digest as _;

use crate::doc::Hash;

/// Most bytes all compressed columns of one document may inflate to.
pub const MAX_INFLATED_BYTES: usize = 64 * 1024 * 1024;

/// Most operations one document may hold (rows of its op columns, and the
/// operations its change columns imply). A feed of 100,000 posts holds about
/// half of this.
pub const MAX_DOC_OPS: u64 = 1_000_000;

/// Most changes one document may hold.
pub const MAX_DOC_CHANGES: u64 = 250_000;

/// Most operations in one change. A profile edit is a handful.
pub const MAX_CHANGE_OPS: u64 = 10_000;

/// Most dependencies one change may name (the heads its author had).
pub const MAX_CHANGE_DEPS: u64 = 256;

/// Most actors named by one chunk.
pub const MAX_ACTORS: u64 = 4096;

/// Longest actor id, in bytes (Kith's are 32: a device public key).
pub const MAX_ACTOR_LEN: u64 = 64;

/// Most columns in one column block.
const MAX_COLUMNS: u64 = 64;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;

/// Why bytes were refused before Automerge saw them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    #[error("truncated or malformed chunk: {0}")]
    Malformed(&'static str),
    #[error("chunk type {0} is not accepted here")]
    ChunkType(u8),
    #[error("the chunk's checksum does not match its content")]
    Checksum,
    #[error("{what}: {found} is over the limit of {limit}")]
    Limit {
        what: &'static str,
        found: u64,
        limit: u64,
    },
    #[error("a compressed column does not inflate")]
    Deflate,
}

fn over(what: &'static str, found: u64, limit: u64) -> GuardError {
    GuardError::Limit { what, found, limit }
}

/// What a change chunk's header says, read without touching its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeHeader {
    /// SHA-256 of the chunk: what its author signs and its children name.
    pub hash: Hash,
    pub actor: Vec<u8>,
    pub deps: Vec<Hash>,
    pub seq: u64,
    pub start_op: u64,
}

/// What a document chunk's uncompressed prefix says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentHeader {
    pub heads: Vec<Hash>,
}

/// Read a change chunk's header: hash, author, dependencies. Cheap (no
/// column is read), so signatures can be checked before [`check_change`].
/// The bytes must be exactly one uncompressed change chunk.
pub fn change_header(bytes: &[u8]) -> Result<ChangeHeader, GuardError> {
    let chunk = Chunk::split_one(bytes)?;
    if chunk.kind != CHANGE {
        return Err(GuardError::ChunkType(chunk.kind));
    }
    let mut r = Reader::new(chunk.data);
    let header = read_change_prefix(&mut r, chunk.hash)?;
    Ok(header)
}

/// Check a change chunk in full: its header, and that its operation columns
/// hold at most [`MAX_CHANGE_OPS`] rows.
pub fn check_change(bytes: &[u8]) -> Result<ChangeHeader, GuardError> {
    let chunk = Chunk::split_one(bytes)?;
    if chunk.kind != CHANGE {
        return Err(GuardError::ChunkType(chunk.kind));
    }
    let mut r = Reader::new(chunk.data);
    let header = read_change_prefix(&mut r, chunk.hash)?;
    let _other_actors = read_actors(&mut r)?;
    let columns = read_columns(&mut r)?;
    let mut block = Vec::new();
    for column in &columns {
        if column.deflated {
            // Automerge refuses compressed columns inside a change anyway.
            return Err(GuardError::Malformed("compressed column in a change"));
        }
        block.push((column.spec, r.take(column.len)?));
    }
    let ops = count_rows(&block, MAX_CHANGE_OPS)?;
    let end = header.start_op.saturating_add(ops.rows);
    if end > MAX_DOC_OPS {
        return Err(over("operation counter of a change", end, MAX_DOC_OPS));
    }
    Ok(header)
}

/// Check a whole document from outside: exactly one document chunk, its
/// compressed columns inflating to at most [`MAX_INFLATED_BYTES`] in all,
/// at most [`MAX_DOC_OPS`] operations and [`MAX_DOC_CHANGES`] changes, and
/// per-change operation counts (which Automerge allocates for) that add up
/// to at most [`MAX_DOC_OPS`].
pub fn check_document(bytes: &[u8]) -> Result<DocumentHeader, GuardError> {
    let chunk = Chunk::split_one(bytes)?;
    if chunk.kind != DOCUMENT {
        return Err(GuardError::ChunkType(chunk.kind));
    }
    let mut r = Reader::new(chunk.data);
    let _actors = read_actors(&mut r)?;
    let heads = read_hashes(&mut r, MAX_CHANGE_DEPS, "heads of a document")?;
    let change_columns = read_columns(&mut r)?;
    let op_columns = read_columns(&mut r)?;
    let mut budget = MAX_INFLATED_BYTES;
    let changes = inflate_block(&mut r, &change_columns, &mut budget)?;
    let ops = inflate_block(&mut r, &op_columns, &mut budget)?;
    // What follows is one head index per head.
    for _ in 0..heads.len() {
        r.uleb()?;
    }
    if !r.is_empty() {
        return Err(GuardError::Malformed(
            "bytes after a document's head indexes",
        ));
    }
    let op_rows = count_rows(&borrow(&ops), MAX_DOC_OPS)?;
    count_rows(&borrow(&changes), MAX_DOC_CHANGES)?;
    check_change_graph(&borrow(&changes), op_rows.rows)?;
    Ok(DocumentHeader { heads })
}

/// Just the heads a document chunk lists in its uncompressed prefix (so
/// their signatures can be checked before anything is inflated).
pub fn document_heads(bytes: &[u8]) -> Result<Vec<Hash>, GuardError> {
    let chunk = Chunk::split_one(bytes)?;
    if chunk.kind != DOCUMENT {
        return Err(GuardError::ChunkType(chunk.kind));
    }
    let mut r = Reader::new(chunk.data);
    read_actors(&mut r)?;
    read_hashes(&mut r, MAX_CHANGE_DEPS, "heads of a document")
}

fn borrow(block: &[(u32, Vec<u8>)]) -> Vec<(u32, &[u8])> {
    block.iter().map(|(s, d)| (*s, d.as_slice())).collect()
}

/// One chunk: its type, data and hash (as Automerge computes it).
struct Chunk<'a> {
    kind: u8,
    data: &'a [u8],
    hash: Hash,
}

impl<'a> Chunk<'a> {
    /// `bytes` must be exactly one chunk with a valid checksum.
    fn split_one(bytes: &'a [u8]) -> Result<Self, GuardError> {
        let mut r = Reader::new(bytes);
        if r.take(4)? != MAGIC {
            return Err(GuardError::Malformed("not an Automerge chunk"));
        }
        let checksum: [u8; 4] = r
            .take(4)?
            .try_into()
            .map_err(|_| GuardError::Malformed("checksum"))?;
        let kind = r.byte()?;
        let len = r.uleb()?;
        let data = r.take(len)?;
        if !r.is_empty() {
            return Err(GuardError::Malformed("bytes after the chunk"));
        }
        let mut hasher = sha2::Sha256::new();
        hasher.update([kind]);
        hasher.update(uleb_bytes(data.len() as u64));
        hasher.update(data);
        let hash: Hash = hasher.finalize().into();
        if hash[..4] != checksum {
            return Err(GuardError::Checksum);
        }
        Ok(Chunk { kind, data, hash })
    }
}

fn read_change_prefix(r: &mut Reader<'_>, hash: Hash) -> Result<ChangeHeader, GuardError> {
    let deps = read_hashes(r, MAX_CHANGE_DEPS, "dependencies of a change")?;
    let actor = read_actor(r)?;
    let seq = r.uleb()?;
    let start_op = r.uleb()?;
    if start_op == 0 {
        return Err(GuardError::Malformed("a change starts at operation 0"));
    }
    if start_op > MAX_DOC_OPS {
        return Err(over("first operation of a change", start_op, MAX_DOC_OPS));
    }
    let _time = r.sleb()?;
    let message_len = r.uleb()?;
    r.take(message_len)?;
    Ok(ChangeHeader {
        hash,
        actor,
        deps,
        seq,
        start_op,
    })
}

fn read_hashes(
    r: &mut Reader<'_>,
    limit: u64,
    what: &'static str,
) -> Result<Vec<Hash>, GuardError> {
    let count = r.uleb()?;
    if count > limit {
        return Err(over(what, count, limit));
    }
    (0..count)
        .map(|_| {
            r.take(32)?
                .try_into()
                .map_err(|_| GuardError::Malformed("hash"))
        })
        .collect()
}

fn read_actor(r: &mut Reader<'_>) -> Result<Vec<u8>, GuardError> {
    let len = r.uleb()?;
    if len > MAX_ACTOR_LEN {
        return Err(over("actor id length", len, MAX_ACTOR_LEN));
    }
    Ok(r.take(len)?.to_vec())
}

fn read_actors(r: &mut Reader<'_>) -> Result<Vec<Vec<u8>>, GuardError> {
    let count = r.uleb()?;
    if count > MAX_ACTORS {
        return Err(over("actors in a chunk", count, MAX_ACTORS));
    }
    (0..count).map(|_| read_actor(r)).collect()
}

/// A column as its block's metadata describes it.
struct ColumnMeta {
    spec: u32,
    deflated: bool,
    len: u64,
}

fn read_columns(r: &mut Reader<'_>) -> Result<Vec<ColumnMeta>, GuardError> {
    let count = r.uleb()?;
    if count > MAX_COLUMNS {
        return Err(over("columns in a block", count, MAX_COLUMNS));
    }
    (0..count)
        .map(|_| {
            let raw = r.uleb()?;
            let spec = u32::try_from(raw).map_err(|_| GuardError::Malformed("column spec"))?;
            let len = r.uleb()?;
            Ok(ColumnMeta {
                spec: spec & !0b1000,
                deflated: spec & 0b1000 != 0,
                len,
            })
        })
        .collect()
}

/// Each column's data, inflated where compressed, within `budget` bytes.
fn inflate_block(
    r: &mut Reader<'_>,
    columns: &[ColumnMeta],
    budget: &mut usize,
) -> Result<Vec<(u32, Vec<u8>)>, GuardError> {
    let mut out = Vec::with_capacity(columns.len());
    for column in columns {
        let raw = r.take(column.len)?;
        let data = if column.deflated {
            inflate(raw, *budget)?
        } else {
            raw.to_vec()
        };
        *budget = budget
            .checked_sub(data.len())
            .ok_or_else(|| over("inflated document bytes", data.len() as u64, *budget as u64))?;
        out.push((column.spec, data));
    }
    Ok(out)
}

/// Inflate a deflate stream, refusing it as soon as it passes `limit` bytes.
fn inflate(raw: &[u8], limit: usize) -> Result<Vec<u8>, GuardError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::DeflateDecoder::new(raw)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|_| GuardError::Deflate)?;
    if out.len() > limit {
        return Err(over(
            "inflated document bytes",
            out.len() as u64,
            limit as u64,
        ));
    }
    Ok(out)
}

/// Column types (the spec's low three bits).
mod col {
    pub const GROUP: u32 = 0;
    pub const ACTOR: u32 = 1;
    pub const INTEGER: u32 = 2;
    pub const DELTA: u32 = 3;
    pub const BOOLEAN: u32 = 4;
    pub const STRING: u32 = 5;
    pub const VALUE_META: u32 = 6;
    pub const VALUE: u32 = 7;
}

/// The most rows any column of a block holds, and the values its group
/// columns add up to (the rows of the columns they group).
struct Rows {
    rows: u64,
}

fn count_rows(block: &[(u32, &[u8])], limit: u64) -> Result<Rows, GuardError> {
    let mut rows = 0;
    for (spec, data) in block {
        let (n, sum) = match spec & 0b111 {
            col::BOOLEAN => (boolean_rows(data, limit)?, 0),
            col::VALUE => (0, 0),
            col::STRING => rle_rows(data, Value::String, limit)?,
            col::DELTA => rle_rows(data, Value::Signed, limit)?,
            col::GROUP | col::ACTOR | col::INTEGER | col::VALUE_META => {
                rle_rows(data, Value::Unsigned, limit)?
            }
            _ => return Err(GuardError::Malformed("column type")),
        };
        if spec & 0b111 == col::GROUP && sum > limit {
            return Err(over("rows grouped by a column", sum, limit));
        }
        rows = rows.max(n);
    }
    Ok(Rows { rows })
}

#[derive(Clone, Copy)]
enum Value {
    Unsigned,
    Signed,
    String,
}

/// Rows of a run-length encoded column, and the sum of its values (for
/// group columns; saturating), refusing more than `limit` rows.
fn rle_rows(data: &[u8], kind: Value, limit: u64) -> Result<(u64, u64), GuardError> {
    let mut r = Reader::new(data);
    let (mut rows, mut sum) = (0u64, 0u64);
    while !r.is_empty() {
        let count = r.sleb()?;
        let add = if count > 0 {
            let value = read_value(&mut r, kind)?;
            sum = sum.saturating_add(value.saturating_mul(count.unsigned_abs()));
            count.unsigned_abs()
        } else if count < 0 {
            let n = count.unsigned_abs();
            if n > limit {
                return Err(over("rows in a column", n, limit));
            }
            for _ in 0..n {
                sum = sum.saturating_add(read_value(&mut r, kind)?);
            }
            n
        } else {
            r.uleb()?
        };
        rows = rows.saturating_add(add);
        if rows > limit {
            return Err(over("rows in a column", rows, limit));
        }
    }
    Ok((rows, sum))
}

/// One value of a run-length column; its numeric value for unsigned ones.
fn read_value(r: &mut Reader<'_>, kind: Value) -> Result<u64, GuardError> {
    match kind {
        Value::Unsigned => r.uleb(),
        Value::Signed => r.sleb().map(|_| 0),
        Value::String => {
            let len = r.uleb()?;
            r.take(len)?;
            Ok(0)
        }
    }
}

fn boolean_rows(data: &[u8], limit: u64) -> Result<u64, GuardError> {
    let mut r = Reader::new(data);
    let mut rows = 0u64;
    while !r.is_empty() {
        rows = rows.saturating_add(r.uleb()?);
        if rows > limit {
            return Err(over("rows in a column", rows, limit));
        }
    }
    Ok(rows)
}

/// Change column ids in a document (the spec's bits above the low four).
mod change_col {
    pub const ACTOR_OR_SEQ: u32 = 0;
    pub const MAX_OP: u32 = 1;
    pub const DEPS: u32 = 4;
}

/// Automerge sizes a buffer for each change of a document from its
/// `max_op` minus the largest `max_op` of its dependencies (or its whole
/// `max_op` if it has none). Those sizes must add up to at most
/// [`MAX_DOC_OPS`], every `max_op` must be one a document of `ops`
/// operations can reach, and every dependency must name an earlier change.
fn check_change_graph(block: &[(u32, &[u8])], ops: u64) -> Result<(), GuardError> {
    let column = |id: u32, kind: u32| {
        block
            .iter()
            .find(|(spec, _)| spec >> 4 == id && spec & 0b111 == kind)
            .map(|(_, data)| *data)
            .unwrap_or(&[])
    };
    let max_ops = delta_values(column(change_col::MAX_OP, col::DELTA))?;
    let dep_counts = rle_values(column(change_col::DEPS, col::GROUP))?;
    let deps = delta_values(column(change_col::DEPS, col::DELTA))?;
    let _seqs = delta_values(column(change_col::ACTOR_OR_SEQ, col::DELTA))?;
    let limit = ops.clamp(1, MAX_DOC_OPS);
    if max_ops.iter().any(|m| *m > limit) {
        return Err(GuardError::Malformed(
            "a change's max op is past the document's operations",
        ));
    }
    let mut next_dep = deps.iter();
    let mut implied = 0u64;
    for (i, max_op) in max_ops.iter().enumerate() {
        let count = dep_counts.get(i).copied().unwrap_or(0);
        let mut base = 0;
        for _ in 0..count {
            let dep = *next_dep
                .next()
                .ok_or(GuardError::Malformed("dependency column too short"))?;
            let dep = usize::try_from(dep).map_err(|_| GuardError::Malformed("dependency"))?;
            if dep >= i {
                return Err(GuardError::Malformed("a change depends on a later one"));
            }
            base = base.max(max_ops[dep]);
        }
        let own = max_op.checked_sub(base).ok_or(GuardError::Malformed(
            "a change's max op is below its dependencies'",
        ))?;
        implied = implied.saturating_add(own);
        if implied > MAX_DOC_OPS {
            return Err(over(
                "operations implied by the changes",
                implied,
                MAX_DOC_OPS,
            ));
        }
    }
    Ok(())
}

/// The values of an unsigned run-length column (nulls as 0). Callers have
/// bounded its rows with [`count_rows`].
fn rle_values(data: &[u8]) -> Result<Vec<u64>, GuardError> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    while !r.is_empty() {
        let count = r.sleb()?;
        if count > 0 {
            let value = r.uleb()?;
            out.extend(std::iter::repeat_n(value, to_len(count.unsigned_abs())?));
        } else if count < 0 {
            for _ in 0..count.unsigned_abs() {
                out.push(r.uleb()?);
            }
        } else {
            let nulls = r.uleb()?;
            out.extend(std::iter::repeat_n(0, to_len(nulls)?));
        }
    }
    Ok(out)
}

/// The values of a delta-encoded column (a run-length column of
/// differences), which must stay within `0..=u32::MAX`.
fn delta_values(data: &[u8]) -> Result<Vec<u64>, GuardError> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    let mut current: i64 = 0;
    let mut push = |delta: i64, out: &mut Vec<u64>| -> Result<(), GuardError> {
        current = current
            .checked_add(delta)
            .filter(|v| (0..=i64::from(u32::MAX)).contains(v))
            .ok_or(GuardError::Malformed("a delta column leaves 0..2^32"))?;
        out.push(current.unsigned_abs());
        Ok(())
    };
    while !r.is_empty() {
        let count = r.sleb()?;
        if count > 0 {
            let delta = r.sleb()?;
            for _ in 0..count.unsigned_abs() {
                push(delta, &mut out)?;
            }
        } else if count < 0 {
            for _ in 0..count.unsigned_abs() {
                let delta = r.sleb()?;
                push(delta, &mut out)?;
            }
        } else {
            // Nulls keep the running value.
            let nulls = r.uleb()?;
            for _ in 0..nulls {
                push(0, &mut out)?;
            }
        }
    }
    Ok(out)
}

fn to_len(n: u64) -> Result<usize, GuardError> {
    usize::try_from(n).map_err(|_| GuardError::Malformed("run length"))
}

fn uleb_bytes(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A cursor over untrusted bytes: every read is checked.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn byte(&mut self) -> Result<u8, GuardError> {
        let (first, rest) = self
            .bytes
            .split_first()
            .ok_or(GuardError::Malformed("unexpected end"))?;
        self.bytes = rest;
        Ok(*first)
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], GuardError> {
        let len = usize::try_from(len).map_err(|_| GuardError::Malformed("length"))?;
        if len > self.bytes.len() {
            return Err(GuardError::Malformed("a length runs past the end"));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn uleb(&mut self) -> Result<u64, GuardError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(GuardError::Malformed("LEB128 over 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(GuardError::Malformed("LEB128 over 64 bits"))
    }

    fn sleb(&mut self) -> Result<i64, GuardError> {
        let mut value = 0i64;
        let mut shift = 0u32;
        loop {
            let byte = self.byte()?;
            if shift == 63 && byte & 0x7e != 0 && byte & 0x7e != 0x7e {
                return Err(GuardError::Malformed("LEB128 over 64 bits"));
            }
            value |= i64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Ok(value);
            }
            if shift >= 64 {
                return Err(GuardError::Malformed("LEB128 over 64 bits"));
            }
        }
    }
}

#[cfg(any(test, feature = "hostile"))]
pub mod craft;

#[cfg(test)]
mod tests;
