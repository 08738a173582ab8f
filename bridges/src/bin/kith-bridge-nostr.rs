//! `kith-bridge-nostr`: notes and metadata on Nostr relays (settings `relays`, optional `nsec`).

fn main() -> std::process::ExitCode {
    kith_bridges::serve(kith_bridges::nostr::Nostr::default())
}
