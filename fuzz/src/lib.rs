//! Shared pieces of Kith's fuzz targets: fixed identities, a fixed clock,
//! the panic policy, and a helper that repairs Automerge chunk checksums so
//! mutated inputs get past the checksum into the parsers behind it.
//!
//! Panic policy. libfuzzer-sys installs a panic hook that aborts on *every*
//! panic, even one that Kith itself catches (`kith_crdt::Doc` runs Automerge
//! under `catch_unwind` on purpose). [`run`] replaces that hook: a panic
//! that Kith catches is handled behaviour, and is only noted once per
//! source location on stderr (`fuzz: caught panic ...`); a panic that
//! escapes the decoder is a crash: its message, location and backtrace are
//! printed and the process aborts, which libFuzzer records as a crasher.

use std::{
    cell::RefCell,
    collections::HashSet,
    panic::{self, AssertUnwindSafe},
    sync::{Mutex, Once},
};

use kith_keys::{AccountId, AccountKey, DeviceCert, DeviceId, DeviceKey};
use sha2::Digest as _;

/// The fixed "now" every target uses (unix seconds).
pub const NOW: u64 = 1_800_000_000;

/// When the fixed certificates were issued.
pub const ISSUED_AT: u64 = 1_700_000_000;

/// The owner of the documents and the receiver of handshakes ("me").
pub fn owner_key() -> AccountKey {
    AccountKey::from_seed(&[0x11; 32])
}

/// The owner's device (signs changes, announcements, records).
pub fn device_key() -> DeviceKey {
    DeviceKey::from_seed(&[0x22; 32])
}

/// A second account (the sender of handshakes, a friend).
pub fn peer_key() -> AccountKey {
    AccountKey::from_seed(&[0x33; 32])
}

/// The second account's device.
pub fn peer_device_key() -> DeviceKey {
    DeviceKey::from_seed(&[0x44; 32])
}

/// Fixed keys and certificates, made once per process.
pub struct Fixture {
    pub owner: AccountKey,
    pub owner_id: AccountId,
    pub device: DeviceKey,
    pub device_id: DeviceId,
    pub cert: DeviceCert,
    pub peer: AccountKey,
    pub peer_id: AccountId,
    pub peer_device: DeviceKey,
    pub peer_device_id: DeviceId,
    pub peer_cert: DeviceCert,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (owner, device, peer, peer_device) =
            (owner_key(), device_key(), peer_key(), peer_device_key());
        let cert = DeviceCert::issue(&owner, device.id(), "fuzz-device", ISSUED_AT)
            .expect("a short name is valid");
        let peer_cert = DeviceCert::issue(&peer, peer_device.id(), "fuzz-peer", ISSUED_AT)
            .expect("a short name is valid");
        Fixture {
            owner_id: owner.id(),
            device_id: device.id(),
            peer_id: peer.id(),
            peer_device_id: peer_device.id(),
            owner,
            device,
            cert,
            peer,
            peer_device,
            peer_cert,
        }
    })
}

/// An Automerge chunk: `magic(4) || checksum(4) || type(1) || uleb len || data`.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// If `bytes` start like an Automerge chunk, a copy whose checksum is the
/// one Automerge expects (SHA-256 over everything after the checksum;
/// exact for a single chunk with a canonical length). `None` if the bytes
/// are no chunk or the checksum already matches.
pub fn fix_chunk_checksum(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < 9 || bytes[..4] != MAGIC {
        return None;
    }
    let hash = sha2::Sha256::digest(&bytes[8..]);
    if bytes[4..8] == hash[..4] {
        return None;
    }
    let mut fixed = bytes.to_vec();
    fixed[4..8].copy_from_slice(&hash[..4]);
    Some(fixed)
}

/// The input itself and, if it is a chunk with a wrong checksum, the
/// repaired copy.
pub fn with_fixed_checksum(bytes: &[u8]) -> Vec<std::borrow::Cow<'_, [u8]>> {
    let mut out = vec![std::borrow::Cow::Borrowed(bytes)];
    if let Some(fixed) = fix_chunk_checksum(bytes) {
        out.push(std::borrow::Cow::Owned(fixed));
    }
    out
}

struct PanicRecord {
    message: String,
    location: String,
    backtrace: std::backtrace::Backtrace,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "<non-string panic payload>".to_string()
            };
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_else(|| "<unknown>".into());
            let backtrace = std::backtrace::Backtrace::force_capture();
            // A panic that cannot unwind (a destructor that panics during
            // unwinding, unwinding into a function that cannot unwind, or a
            // violated unsafe precondition under debug assertions) aborts
            // before `run` can report it: print it now, with the panic
            // that was unwinding at the time (its cause, if any).
            // KITH_FUZZ_PRINT_PANICS=1 prints every panic as it happens.
            let cannot_unwind = [
                "panic in a destructor during cleanup",
                "panic in a function that cannot unwind",
                "unsafe precondition",
            ]
            .iter()
            .any(|m| message.starts_with(m));
            if cannot_unwind {
                let cause = LAST_PANIC.with(|p| p.borrow_mut().take());
                match cause {
                    Some(c) => eprintln!(
                        "fuzz: PANIC THAT CANNOT UNWIND (the process aborts) at {location}: {message}\n\
                         while unwinding from the panic at {}: {}\nbacktrace of that panic:\n{}",
                        c.location, c.message, c.backtrace
                    ),
                    None => eprintln!(
                        "fuzz: PANIC THAT CANNOT UNWIND (the process aborts) at {location}: {message}\n\
                         backtrace:\n{backtrace}"
                    ),
                }
            } else if std::env::var_os("KITH_FUZZ_PRINT_PANICS").is_some() {
                eprintln!("fuzz: PANIC at {location}: {message}\nbacktrace:\n{backtrace}");
            }
            LAST_PANIC.with(|p| {
                *p.borrow_mut() = Some(PanicRecord {
                    message,
                    location,
                    backtrace,
                })
            });
        }));
    });
}

/// The innermost frames of a backtrace that lie in Kith's own crates
/// (where a caught panic was caught), as `function@file:line`.
fn kith_frames(backtrace: &std::backtrace::Backtrace) -> String {
    let text = backtrace.to_string();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut frames = Vec::new();
    for pair in lines.windows(2) {
        let (name, at) = (pair[0], pair[1]);
        let Some(file) = at.strip_prefix("at ") else {
            continue;
        };
        let own = ["crdt/src/", "protocol/src/", "keys/src/", "node/src/"]
            .iter()
            .any(|dir| file.contains(dir))
            && !file.contains(".cargo/registry");
        if own {
            let name = name.split_once(": ").map_or(name, |(_, f)| f);
            let file = file.rsplit_once("/work/main/").map_or(file, |(_, f)| f);
            frames.push(format!("{name}@{file}"));
        }
        if frames.len() == 3 {
            break;
        }
    }
    frames.join(" < ")
}

/// Run one fuzz input through `f` under the panic policy described above.
pub fn run(data: &[u8], f: impl FnOnce(&[u8])) {
    install_hook();
    LAST_PANIC.with(|p| *p.borrow_mut() = None);
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(data)));
    let record = LAST_PANIC.with(|p| p.borrow_mut().take());
    match result {
        Ok(()) => {
            if let Some(r) = record {
                static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
                let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
                if seen.get_or_insert_with(HashSet::new).insert(r.location.clone()) {
                    eprintln!(
                        "fuzz: caught panic (handled by Kith, not a crash) at {}: {} [caught in: {}]",
                        r.location,
                        r.message,
                        kith_frames(&r.backtrace)
                    );
                }
            }
        }
        Err(_) => {
            match record {
                Some(r) => eprintln!(
                    "fuzz: UNCAUGHT PANIC at {}: {}\nbacktrace:\n{}",
                    r.location, r.message, r.backtrace
                ),
                None => eprintln!("fuzz: UNCAUGHT PANIC (no record)"),
            }
            std::process::abort();
        }
    }
}

/// Bytes as text the way a user-facing decoder would get them: the input if
/// it is UTF-8, else its lossy conversion.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// `Vec<u8>` from a function that returns either `Vec<u8>` or
/// `Result<Vec<u8>, E>` (Kith's `Doc::snapshot` changed between the two).
pub trait IntoBytes {
    fn into_bytes(self) -> Vec<u8>;
}

impl IntoBytes for Vec<u8> {
    fn into_bytes(self) -> Vec<u8> {
        self
    }
}

impl<E: std::fmt::Debug> IntoBytes for Result<Vec<u8>, E> {
    fn into_bytes(self) -> Vec<u8> {
        self.expect("saving a document made here")
    }
}
