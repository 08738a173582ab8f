//! `kith-evil`: a hostile Kith peer, to prove that nodes survive attacks.
//!
//! Each attack connects to a victim over the real protocols (libp2p, Noise,
//! `/kith/hello/1`, gossip, `/kith/sync/1`, `/kith/friend/1`) and does what
//! the CLI contract (`kith-evil ATTACK --target MULTIADDR ...`) names,
//! then prints `{"attack","sent","bytes",...}`. Bombs add `"inflates_to"`,
//! the bytes their payload expands to. Never point it at a node you do not own.

mod attacks;
mod peer;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use kith_keys::AccountId;
use libp2p::Multiaddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Attack {
    BombDocument,
    BombChange,
    OrphanChange,
    JunkAnnounce,
    PullFlood,
    ConnFlood,
    HandshakeFlood,
    StaleAccept,
}

#[derive(Debug, Parser)]
#[command(name = "kith-evil", about = "A hostile Kith peer (for testing only)")]
struct Args {
    attack: Attack,
    /// The victim's listen address.
    #[arg(long)]
    target: Multiaddr,
    /// An account the victim follows (a friend of its, or itself).
    #[arg(long)]
    account: Option<AccountId>,
    /// An ex-friend's home, for `stale-accept`.
    #[arg(long)]
    home: Option<PathBuf>,
    /// How long flood attacks last.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    #[arg(long)]
    json: bool,
}

fn main() {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(&args)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let account = || args.account.context("this attack needs --account");
    let (target, secs) = (&args.target, args.secs);
    let report = match args.attack {
        Attack::BombDocument => attacks::bomb_document(target, account()?, secs).await?,
        Attack::BombChange => attacks::bomb_change(target, account()?, secs).await?,
        Attack::OrphanChange => attacks::orphan_change(target, account()?, secs).await?,
        Attack::JunkAnnounce => attacks::junk_announce(target, account()?, secs).await?,
        Attack::PullFlood => attacks::pull_flood(target, account()?, secs).await?,
        Attack::ConnFlood => attacks::conn_flood(target, secs).await?,
        Attack::HandshakeFlood => attacks::handshake_flood(target, secs).await?,
        Attack::StaleAccept => {
            let home = args.home.as_deref().context("stale-accept needs --home")?;
            attacks::stale_accept(target, home).await?
        }
    };
    let name = args
        .attack
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let mut out = serde_json::json!({
        "attack": name,
        "sent": report.sent,
        "bytes": report.bytes,
    });
    if let Some(map) = out.as_object_mut() {
        if let Some(n) = report.inflates_to {
            map.insert("inflates_to".into(), n.into());
        }
        map.extend(report.extra);
    }
    if args.json {
        println!("{out}");
    } else {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    Ok(())
}
