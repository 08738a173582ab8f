//! `kith-bridge-webhook`: posts as JSON POSTs to a URL (setting `url`).

fn main() -> std::process::ExitCode {
    kith_bridges::serve(kith_bridges::webhook::Webhook::default())
}
