//! `kith-bridge-atom`: posts into an Atom feed file (setting `path`, optional `title`).

fn main() -> std::process::ExitCode {
    kith_bridges::serve(kith_bridges::atom::Atom::default())
}
