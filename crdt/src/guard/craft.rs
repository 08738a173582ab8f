//! Builders of hostile Automerge bytes, for tests and `kith-evil`: bombs and orphan chunks.
//!
//! Each builder returns well-framed chunks (magic bytes, a valid checksum)
//! that Automerge starts to parse, so what they cost is what a hostile peer
//! could make a node spend.

use std::io::Write as _;

use sha2::Digest as _;

use super::{CHANGE, DOCUMENT, MAGIC, col, uleb_bytes};

/// Chunk type of a compressed change (a deflated change chunk).
pub const COMPRESSED_CHANGE: u8 = 2;

/// One chunk of `kind` around `data`, with the checksum Automerge expects.
pub fn chunk(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut hasher = sha2::Sha256::new();
    hasher.update([kind]);
    hasher.update(uleb_bytes(data.len() as u64));
    hasher.update(data);
    let hash = hasher.finalize();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&hash[..4]);
    out.push(kind);
    out.extend(uleb_bytes(data.len() as u64));
    out.extend_from_slice(data);
    out
}

/// A deflate stream of `n` zero bytes (about a thousandth of `n`), made
/// without holding `n` bytes.
pub fn deflated_zeros(n: u64) -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let mut left = n;
    while left > 0 {
        let step = left.min(zeros.len() as u64) as usize;
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(&zeros[..step]);
        left -= step as u64;
    }
    encoder.finish().unwrap_or_default()
}

/// Column metadata and data for a document: `(spec, data)` pairs, written
/// in the given order (Automerge wants them sorted by spec).
fn document(
    actors: &[[u8; 32]],
    heads: &[[u8; 32]],
    changes: &[(u32, Vec<u8>)],
    ops: &[(u32, Vec<u8>)],
) -> Vec<u8> {
    let mut data = uleb_bytes(actors.len() as u64);
    for actor in actors {
        data.extend(uleb_bytes(32));
        data.extend_from_slice(actor);
    }
    data.extend(uleb_bytes(heads.len() as u64));
    for head in heads {
        data.extend_from_slice(head);
    }
    for block in [changes, ops] {
        data.extend(uleb_bytes(block.len() as u64));
        for (spec, column) in block {
            data.extend(uleb_bytes(u64::from(*spec)));
            data.extend(uleb_bytes(column.len() as u64));
        }
    }
    for block in [changes, ops] {
        for (_, column) in block {
            data.extend_from_slice(column);
        }
    }
    for i in 0..heads.len() {
        data.extend(uleb_bytes(i as u64));
    }
    chunk(DOCUMENT, &data)
}

fn spec(id: u32, kind: u32, deflated: bool) -> u32 {
    (id << 4) | kind | if deflated { 0b1000 } else { 0 }
}

fn sleb(value: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut value = value;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// One run-length run: `count` copies of the unsigned `value`.
fn run(count: i64, value: u64) -> Vec<u8> {
    let mut out = sleb(count);
    out.extend(uleb_bytes(value));
    out
}

/// A document whose one raw-value column inflates to `inflate_to` zero
/// bytes: Automerge inflates every column before it looks at any.
/// `heads` are listed in its prefix (real heads make it look genuine).
pub fn inflating_document(inflate_to: u64, heads: &[[u8; 32]]) -> Vec<u8> {
    let column = deflated_zeros(inflate_to);
    document(
        &[[1; 32]],
        heads,
        &[],
        &[(spec(7, col::VALUE, true), column)],
    )
}

/// Op columns claiming `rows` operations in a few bytes (one run each):
/// map key "k", ids, action "set", a null value, no successors.
fn cheap_op_rows(rows: u64) -> Vec<(u32, Vec<u8>)> {
    let count = i64::try_from(rows).unwrap_or(i64::MAX);
    let mut counters = sleb(count);
    counters.extend(sleb(1));
    let mut keys = sleb(count);
    keys.extend(uleb_bytes(1));
    keys.push(b'k');
    vec![
        (spec(1, col::STRING, false), keys),
        (spec(2, col::ACTOR, false), run(count, 0)),
        (spec(2, col::DELTA, false), counters),
        (spec(4, col::INTEGER, false), run(count, 1)),
        (spec(5, col::VALUE_META, false), run(count, 0)),
        (spec(8, col::GROUP, false), run(count, 0)),
    ]
}

/// A document whose op columns claim `rows` operations in a few bytes.
pub fn rows_document(rows: u64) -> Vec<u8> {
    document(&[[1; 32]], &[], &[], &cheap_op_rows(rows))
}

/// A document of `changes` changes without dependencies, each claiming
/// `max_op` operations (Automerge reserves room for each), over `max_op`
/// cheap op rows.
pub fn graph_document(changes: u64, max_op: u64) -> Vec<u8> {
    let count = i64::try_from(changes).unwrap_or(i64::MAX);
    let mut seqs = sleb(count);
    seqs.extend(sleb(1));
    // The first change's max op, then the same again (delta 0) for the rest.
    let mut max_ops = sleb(1);
    max_ops.extend(sleb(i64::try_from(max_op).unwrap_or(i64::MAX)));
    if count > 1 {
        max_ops.extend(sleb(count - 1));
        max_ops.extend(sleb(0));
    }
    let change_columns = vec![
        (spec(0, col::ACTOR, false), run(count, 0)),
        (spec(0, col::DELTA, false), seqs),
        (spec(1, col::DELTA, false), max_ops),
        (spec(4, col::GROUP, false), run(count, 0)),
        (spec(5, col::VALUE_META, false), run(count, 0)),
    ];
    document(&[[1; 32]], &[], &change_columns, &cheap_op_rows(max_op))
}

/// A compressed change chunk that inflates to `inflate_to` bytes.
pub fn inflating_change(inflate_to: u64) -> Vec<u8> {
    chunk(COMPRESSED_CHANGE, &deflated_zeros(inflate_to))
}

/// A change chunk whose one column claims `rows` operations.
pub fn rows_change(actor: &[u8; 32], rows: u64) -> Vec<u8> {
    let count = i64::try_from(rows).unwrap_or(i64::MAX);
    let mut data = uleb_bytes(0); // no dependencies
    data.extend(uleb_bytes(32));
    data.extend_from_slice(actor);
    data.extend(uleb_bytes(1)); // seq
    data.extend(uleb_bytes(1)); // start op
    data.extend(sleb(0)); // time
    data.extend(uleb_bytes(0)); // message
    data.extend(uleb_bytes(0)); // other actors
    let column = run(count, 0);
    data.extend(uleb_bytes(1));
    data.extend(uleb_bytes(u64::from(spec(0, col::ACTOR, false))));
    data.extend(uleb_bytes(column.len() as u64));
    data.extend(column);
    chunk(CHANGE, &data)
}
