//! `kith-bridge-mastodon`: statuses and profile on a Mastodon instance (settings `instance`, `token`).

fn main() -> std::process::ExitCode {
    kith_bridges::serve(kith_bridges::mastodon::Mastodon::default())
}
