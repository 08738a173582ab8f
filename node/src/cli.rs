//! The `kith` command line (contract: shared/spec/cli.md). Every command but
//! `init`, `id` and `daemon` is a client of the running daemon's local API.

/// `println!` that ignores a closed stdout (`kith … | head`), instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod client;
mod commands;
mod devices;
mod friends;
mod posts;
mod profile;
pub mod qr;
mod recovery;

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};
use libp2p::Multiaddr;

pub use client::Client;

#[derive(Debug, Parser)]
#[command(
    name = "kith",
    version,
    about = "Kith: your own peer-to-peer sync node"
)]
pub struct Cli {
    /// The node's home directory [default: the platform data dir, e.g. ~/.local/share/kith].
    #[arg(long, global = true, env = "KITH_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print exactly one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create this home's account key, device key and device certificate.
    Init {
        /// Your display name.
        #[arg(long)]
        name: Option<String>,
        /// This device's name [default: the host name].
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Print this home's account and device ids (no daemon needed).
    Id,
    /// Run the node in the foreground until SIGINT or SIGTERM.
    Daemon {
        /// Listen on this multiaddr (repeatable) instead of config.toml's `listen`.
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<Multiaddr>,
        /// Serve the local API on this loopback HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        api: Option<SocketAddr>,
        /// Do not look for peers on the local network.
        #[arg(long)]
        no_mdns: bool,
        /// Dial this peer at start and seed the DHT with it (repeatable).
        #[arg(long, value_name = "MULTIADDR")]
        bootstrap: Vec<Multiaddr>,
        /// Also serve as a public node for others: circuit relay, DHT
        /// server, reachability probes (for a host with a public address).
        #[arg(long)]
        relay: bool,
    },
    /// Show the daemon's state: ids, listen addresses, connected peers.
    Status,
    /// Open the local web page: prints a one-time login link (valid 2 minutes).
    Open {
        /// Only print the link; do not start a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Your account's recovery: the paper key, shares held by friends,
    /// and friends' requests to recover theirs.
    #[command(subcommand)]
    Recovery(RecoveryCommand),
    /// On a fresh home, no daemon: recover the account from its paper key
    /// (--words), or start recovering it through friends who hold shares
    /// (--account ACCOUNT --friends); this device gets a new key certified
    /// by the account.
    Recover {
        /// The paper key's 24 words, in one argument.
        #[arg(long, value_name = "WORDS", conflicts_with_all = ["account", "friends"], required_unless_present = "account")]
        words: Option<String>,
        /// The account to recover through friends.
        #[arg(long, value_name = "ACCOUNT", requires = "friends")]
        account: Option<String>,
        /// Recover through friends' shares: prints the code to read to them.
        #[arg(long, requires = "account")]
        friends: bool,
        /// This device's name [default: the host name].
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Write an encrypted bundle of the account key and its documents.
    Export {
        /// Where to write the bundle.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// A file holding the passphrase (its first line).
        #[arg(long, value_name = "FILE")]
        passphrase_file: std::path::PathBuf,
    },
    /// On a fresh home, no daemon: restore an exported bundle; this device
    /// gets a new key certified by the account.
    Import {
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        /// A file holding the passphrase (its first line).
        #[arg(long, value_name = "FILE")]
        passphrase_file: std::path::PathBuf,
        /// This device's name [default: the host name].
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Dial a peer now (LAN without mDNS, tests).
    Connect {
        #[arg(value_name = "MULTIADDR")]
        addr: String,
    },
    /// Friends: tickets, requests, the list, suggestions.
    #[command(subcommand)]
    Friend(FriendCommand),
    /// Your profile, and what this node holds of others'.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Your accounts on other platforms.
    #[command(subcommand)]
    Link(LinkCommand),
    /// This account's devices: link a new one, join one, list, revoke.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Publish a post to your feed and your bridges, or see its deliveries (`post status POST`).
    Post(PostArgs),
    /// Posts, newest first: yours, one account's, or all friends' (`--all`).
    Feed {
        account: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Bridge plugins that carry posts to other platforms.
    #[command(subcommand)]
    Bridge(BridgeCommand),
    /// Your address book, for friend suggestions.
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// Identifiers (email, phone) people may find you by.
    #[command(subcommand)]
    Discoverable(DiscoverableCommand),
}

#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Show the account key as 24 words to write on paper (needs the
    /// account key on this device; no daemon needed).
    Words,
    /// Give recovery shares of the account key to friends: any THRESHOLD
    /// of them can give the account back, fewer learn nothing.
    Setup {
        /// A friend to hold a share (repeat; at most 16).
        #[arg(long = "friend", value_name = "ACCOUNT", required = true)]
        friends: Vec<String>,
        #[arg(long, value_name = "K")]
        threshold: u8,
    },
    /// Which friends hold a share of this account.
    Status,
    /// Friends' new devices asking for the share this node holds.
    Requests,
    /// Release this node's share of ACCOUNT to the device whose code your
    /// friend read to you.
    Approve {
        account: String,
        #[arg(long)]
        code: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FriendCommand {
    /// Print a single-use friend ticket (and its QR code).
    Invite {
        /// Draw the QR code in the terminal.
        #[arg(long)]
        qr: bool,
        /// Write the QR code as a PNG image.
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
        /// Write the QR code as an SVG image.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// How long the ticket stays valid (e.g. 10m, 24h, 7d) [default: 24h].
        #[arg(long, value_name = "DURATION", value_parser = friends::parse_duration)]
        ttl: Option<std::time::Duration>,
    },
    /// Send a signed friend request to a ticket's account or an account id.
    Add {
        #[arg(value_name = "TICKET|ACCOUNT")]
        target: String,
        /// A note shown with the request.
        #[arg(long)]
        message: Option<String>,
    },
    /// Pending incoming and outgoing requests.
    Requests,
    /// Accept a pending request.
    Accept { account: String },
    /// Decline a pending request.
    Decline { account: String },
    /// End a friendship (on both sides).
    Remove { account: String },
    /// Refuse all further requests and connections from an account.
    Block { account: String },
    /// Your friends.
    List,
    /// People you may know, with the reason.
    Suggest,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Set a field; returns once it is stored durably.
    Set {
        field: String,
        value: String,
        /// Who may see it: public (anyone) or friends (friends and your devices).
        #[arg(long, default_value = "public", value_parser = ["public", "friends"])]
        visibility: String,
    },
    /// Remove a field.
    Unset { field: String },
    /// Your profile, or what this node holds of another account's.
    Show { account: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// Add an account on another platform (optionally with a proof URL).
    Add {
        platform: String,
        handle: String,
        #[arg(long, value_name = "URL")]
        proof: Option<String>,
    },
    /// Remove a linked account.
    Remove { platform: String, handle: String },
    /// Linked accounts (yours, or another account's as this node holds them).
    List { account: Option<String> },
    /// The statement to post on the platform to prove a link (needs the account key).
    Proof { platform: String, handle: String },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Print a one-time pairing ticket (and QR code) for a new device.
    Link {
        #[arg(long)]
        qr: bool,
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// How long the ticket stays valid [default: 10m].
        #[arg(long, value_name = "DURATION", value_parser = friends::parse_duration)]
        ttl: Option<std::time::Duration>,
        /// Also give the new device the account key (so it can link and revoke).
        #[arg(long)]
        admin: bool,
    },
    /// On a fresh home: pair with a ticket's device and become a device of its account.
    Join {
        #[arg(value_name = "TICKET", required_unless_present = "qr_image")]
        ticket: Option<String>,
        /// Read the ticket from a photo or screenshot of its QR code.
        #[arg(long, value_name = "FILE", conflicts_with = "ticket")]
        qr_image: Option<PathBuf>,
        /// This device's name [default: the host name].
        #[arg(long)]
        device_name: Option<String>,
    },
    /// This account's devices.
    List,
    /// Revoke a device (needs the account key).
    Revoke { device: String },
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PostArgs {
    #[command(subcommand)]
    pub action: Option<PostAction>,
    /// The post's text.
    pub text: Option<String>,
    /// public (default) or friends (friends-only posts go to no bridge unless named).
    #[arg(long, default_value = "public", value_parser = ["public", "friends"])]
    pub visibility: String,
    /// Only this bridge (repeatable) [default: all enabled bridges].
    #[arg(long = "bridge", value_name = "NAME")]
    pub bridges: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum PostAction {
    /// Per-bridge delivery state of a post.
    Status { post: String },
}

#[derive(Debug, Subcommand)]
pub enum BridgeCommand {
    /// Add a bridge plugin (settings are kept private in $KITH_HOME).
    Add {
        name: String,
        #[arg(long, value_name = "COMMAND")]
        plugin: String,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    Remove {
        name: String,
    },
    List,
    /// Check that a bridge runs.
    Test {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Import contacts from a vCard (3 or 4) or CSV file.
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum DiscoverableCommand {
    /// Let people who have this email or phone number find you.
    Add { kind: String, value: String },
    /// Stop being discoverable by it.
    Remove { kind: String, value: String },
    /// The identifiers you are discoverable by.
    List,
}

/// Parse the command line and run it. Returns the process exit code.
pub fn main() -> std::process::ExitCode {
    main_from(std::env::args_os())
}

/// [`main`] on the given arguments (the first is the program's name): how
/// `kith-bench` runs the very daemon `kith` runs, in a child process.
pub fn main_from<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return report_usage_error(e),
    };
    let default_log = if matches!(cli.command, Command::Daemon { .. }) {
        "info"
    } else {
        "warn"
    };
    crate::logging::init(default_log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the chain of causes.
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Clap's errors span several lines; the contract wants one `error:` line.
fn report_usage_error(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return std::process::ExitCode::SUCCESS;
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("error: {first} (see: kith --help)");
    std::process::ExitCode::from(2)
}
