//! The guard against honest and hostile bytes; the hostile ones also against raw Automerge.

use super::{craft, *};
use crate::{Doc, feed, profile};
use kith_keys::DeviceKey;

fn device(seed: u8) -> kith_keys::DeviceId {
    DeviceKey::from_seed(&[seed; 32]).id()
}

/// A profile with many edits and a feed with long posts: compressed
/// columns, several changes, deletions.
fn honest_documents() -> Vec<Doc> {
    let mut profile_doc = Doc::new(&device(1));
    for i in 0..300 {
        profile::set(&mut profile_doc, "bio", &format!("bio number {i}")).unwrap();
        profile::set(&mut profile_doc, &format!("f{}", i % 7), "x").unwrap();
        profile_doc.commit();
    }
    profile::unset(&mut profile_doc, "f3").unwrap();
    profile_doc.commit();
    let mut other = Doc::load(&profile_doc.save().unwrap(), &device(2)).unwrap();
    profile::set(&mut other, "city", "Paris").unwrap();
    let change = other.commit().unwrap();
    profile::set(&mut profile_doc, "mood", "fine").unwrap();
    profile_doc.commit();
    profile_doc.apply(vec![change]).unwrap();

    let mut feed_doc = Doc::new(&device(3));
    for i in 0..200 {
        let text = format!("post {i} ").repeat(40);
        let post = feed::Post {
            id: format!("{i:032x}"),
            text,
            at: i as u64,
            device: device(3),
        };
        feed::add(&mut feed_doc, &post).unwrap();
        feed_doc.commit();
    }
    vec![profile_doc, feed_doc, Doc::new(&device(4))]
}

#[test]
fn honest_documents_and_changes_pass() {
    for mut doc in honest_documents() {
        let bytes = doc.snapshot().unwrap();
        let header = check_document(&bytes).unwrap();
        let mut heads = doc.heads();
        let mut listed = header.heads.clone();
        heads.sort();
        listed.sort();
        assert_eq!(listed, heads);
        assert_eq!(document_heads(&bytes).unwrap(), header.heads);
        for change in doc.changes_since(&[]).unwrap() {
            let header = check_change(&change.bytes).unwrap();
            assert_eq!(header.hash, change.hash);
            assert_eq!(header.actor, change.actor);
            assert_eq!(header.deps, change.deps);
            assert_eq!(change_header(&change.bytes).unwrap(), header);
        }
    }
}

#[test]
fn a_document_that_inflates_past_the_budget_is_refused_before_it_inflates() {
    let bomb = craft::inflating_document(MAX_INFLATED_BYTES as u64 + 1024, &[]);
    assert!(bomb.len() < 128 * 1024, "{} bytes", bomb.len());
    match check_document(&bomb) {
        Err(GuardError::Limit { what, .. }) => assert_eq!(what, "inflated document bytes"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn run_lengths_that_claim_too_many_rows_are_refused() {
    for rows in [MAX_DOC_OPS + 1, 1 << 40, i64::MAX as u64] {
        let bomb = craft::rows_document(rows);
        assert!(bomb.len() < 200);
        assert!(matches!(
            check_document(&bomb),
            Err(GuardError::Limit { .. })
        ));
    }
    let actor = [9; 32];
    assert!(matches!(
        check_change(&craft::rows_change(&actor, MAX_CHANGE_OPS + 1)),
        Err(GuardError::Limit { .. })
    ));
    assert!(check_change(&craft::rows_change(&actor, 10)).is_ok());
}

#[test]
fn changes_that_make_automerge_reserve_too_much_are_refused() {
    // 1,000 changes each claiming the document's million operations: a
    // million-row buffer each, inside a few hundred bytes.
    let bomb = craft::graph_document(1000, MAX_DOC_OPS);
    assert!(bomb.len() < 400, "{} bytes", bomb.len());
    match check_document(&bomb) {
        Err(GuardError::Limit { what, .. }) => {
            assert_eq!(what, "operations implied by the changes")
        }
        other => panic!("{other:?}"),
    }
    // The same shape at an honest size passes the guard.
    assert!(check_document(&craft::graph_document(10, 1000)).is_ok());
}

#[test]
fn compressed_changes_and_trailing_chunks_are_refused() {
    assert_eq!(
        check_change(&craft::inflating_change(1 << 20)),
        Err(GuardError::ChunkType(craft::COMPRESSED_CHANGE))
    );
    let mut doc = honest_documents().remove(0);
    let bytes = doc.snapshot().unwrap();
    let change = doc.changes_since(&[]).unwrap().pop().unwrap();
    let mut with_orphan = bytes.clone();
    with_orphan.extend_from_slice(&change.bytes);
    assert_eq!(
        check_document(&with_orphan),
        Err(GuardError::Malformed("bytes after the chunk"))
    );
    assert!(matches!(
        check_document(&change.bytes),
        Err(GuardError::ChunkType(1))
    ));
    assert!(matches!(
        check_change(&bytes),
        Err(GuardError::ChunkType(0))
    ));
}

#[test]
fn every_truncation_and_bit_flip_is_an_error_or_a_pass_never_a_panic() {
    let mut doc = honest_documents().remove(0);
    let bytes = doc.snapshot().unwrap();
    let change = doc.changes_since(&[]).unwrap().pop().unwrap().bytes;
    for input in [&bytes, &change] {
        for cut in 0..input.len() {
            let _ = check_document(&input[..cut]);
            let _ = check_change(&input[..cut]);
        }
        for i in 0..input.len() {
            for bit in [0x01u8, 0x40, 0x80] {
                let mut flipped = input.clone();
                flipped[i] ^= bit;
                let _ = check_document(&flipped);
                let _ = check_change(&flipped);
            }
        }
    }
}

#[test]
fn a_checksum_mismatch_is_refused() {
    let mut doc = honest_documents().remove(2);
    let mut bytes = doc.snapshot().unwrap();
    bytes[5] ^= 1;
    assert_eq!(check_document(&bytes), Err(GuardError::Checksum));
}

/// Bombs sized so that raw Automerge needs several hundred MiB for each
/// (the test stays quick): 256 MiB of zeros in about 256 KiB, and four
/// million operation rows in under 100 bytes.
const BOMB_INFLATES_TO: u64 = 256 << 20;
const BOMB_ROWS: u64 = 1 << 22;

/// Peak resident memory, in MiB, of raw Automerge (a child process of
/// this test binary) on the named bytes: what a node spent on them before
/// the guard existed.
fn raw_automerge_peak_mib(bomb: &str) -> u64 {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "guard::tests::raw_automerge_child",
            "--ignored",
            "--nocapture",
        ])
        .env("KITH_BOMB", bomb)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("peak_kib="))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kib| kib / 1024)
        .unwrap_or_else(|| panic!("{bomb}: the child reported nothing: {text}"))
}

/// Run by `raw_automerge_peak_mib` in a child process: load the named
/// bytes with Automerge alone, then report the process's peak memory.
#[test]
#[ignore = "run in a child process by the bomb test"]
fn raw_automerge_child() {
    let Ok(which) = std::env::var("KITH_BOMB") else {
        return;
    };
    let bytes = match which.as_str() {
        "inflate" => craft::inflating_document(BOMB_INFLATES_TO, &[]),
        "rows" => craft::rows_document(BOMB_ROWS),
        "change" => craft::inflating_change(BOMB_INFLATES_TO),
        "honest" => honest_documents().remove(1).snapshot().unwrap(),
        _ => return,
    };
    let _ = std::panic::catch_unwind(|| {
        if which == "change" {
            let _ = automerge::Change::from_bytes(bytes.clone());
        } else {
            let result = automerge::AutoCommit::load(&bytes);
            eprintln!("load: {:?}", result.err());
        }
    });
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    println!("peak_kib={peak}");
}

#[test]
fn each_bomb_costs_raw_automerge_hundreds_of_mib_and_the_guard_refuses_it() {
    if std::env::var_os("KITH_BOMB").is_some() {
        return;
    }
    let honest = raw_automerge_peak_mib("honest");
    assert!(
        honest < 64,
        "the child harness itself peaks at {honest} MiB"
    );
    for bomb in ["inflate", "rows", "change"] {
        let peak = raw_automerge_peak_mib(bomb);
        eprintln!("{bomb}: raw Automerge peaks at {peak} MiB (honest: {honest} MiB)");
        assert!(
            peak >= 300,
            "{bomb}: raw Automerge peaked at only {peak} MiB"
        );
    }
    let inflate = craft::inflating_document(BOMB_INFLATES_TO, &[]);
    assert!(matches!(
        check_document(&inflate),
        Err(GuardError::Limit { .. })
    ));
    let rows = craft::rows_document(BOMB_ROWS);
    assert!(matches!(
        check_document(&rows),
        Err(GuardError::Limit { .. })
    ));
    let change = craft::inflating_change(BOMB_INFLATES_TO);
    assert!(matches!(
        check_change(&change),
        Err(GuardError::ChunkType(_))
    ));
}
