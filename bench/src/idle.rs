//! B8: an idle Kith daemon with N friends: its resident memory (the real
//! `kith daemon`, in a process of its own, against the same daemon with no
//! friends) and loopback bytes per second per friend (against bare libp2p
//! swarms — TCP, Noise, Yamux, ping — with the same connections, in a
//! child process).

use std::{process::Stdio, time::Duration};

use futures::StreamExt as _;
use kith_protocol::ticket::{Ticket, TicketKind};
use kith_tests::TestNode;
use libp2p::{noise, ping, swarm::SwarmEvent, tcp, yamux};

use crate::report::Row;

/// The resident memory an idle daemon with 150 friends may take.
pub const DAEMON_RSS_GOAL_KIB: f64 = 32.0 * 1024.0;

/// Resident memory of a process, in KiB (`/proc/PID/status`): all of it,
/// and the part that is its own (anonymous: heap, stacks) rather than file
/// pages it maps (the binary's code, shared and reclaimable).
struct Resident {
    total: f64,
    anon: f64,
}

fn resident(pid: u64) -> Resident {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0)
    };
    Resident {
        total: field("VmRSS:"),
        anon: field("RssAnon:"),
    }
}

/// Bytes received on the loopback interface so far (the machine's, so runs
/// are best done on an otherwise idle machine).
fn loopback_bytes() -> f64 {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    dev.lines()
        .find(|l| l.trim_start().starts_with("lo:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0)
}

async fn idle_rate(window: Duration) -> f64 {
    let before = loopback_bytes();
    tokio::time::sleep(window).await;
    (loopback_bytes() - before) / window.as_secs_f64()
}

/// How long the nodes are left alone after befriending before the window
/// opens: the first pulls, DHT publications and gossipsub's mesh building
/// are over by then.
const SETTLE: Duration = Duration::from_secs(8);

/// B8's rows: the daemon alone, the daemon with `friends` friends (DHT
/// clients in this process, so the topology is a star as on N machines),
/// then the bare swarms in a child process.
pub async fn run(friends: usize, window: Duration) -> anyhow::Result<Vec<Row>> {
    let alone = {
        let daemon = Daemon::start().await?;
        tokio::time::sleep(SETTLE).await;
        daemon.resident()
    };
    let (rss, kith_rate) = {
        let daemon = Daemon::start().await?;
        let mut leaves = Vec::new();
        for _ in 0..friends {
            let leaf = TestNode::spawn_dht_client().await?;
            daemon.befriend(&leaf).await?;
            leaves.push(leaf);
        }
        tokio::time::sleep(SETTLE).await;
        let rss = daemon.resident();
        let rate = idle_rate(window).await / friends as f64;
        for leaf in leaves {
            leaf.stop().await;
        }
        (rss, rate)
    };
    let bare = measure_in_child(Side::Bare, friends, window).await?;
    Ok(vec![
        Row::judged(
            "B8",
            &format!(
                "idle daemon with {friends} friends: resident memory (anonymous {:.0} / {:.0}; anchor: the daemon alone)",
                rss.anon, alone.anon
            ),
            rss.total,
            alone.total,
            "KiB",
            &format!("<= {DAEMON_RSS_GOAL_KIB:.0} KiB"),
            rss.total <= DAEMON_RSS_GOAL_KIB,
        ),
        Row::judged(
            "B8",
            // Bare swarms can be silent for a whole window (ping every 15 s):
            // the anchor is floored at 1 B/s so the ratio stays defined.
            &format!(
                "idle node with {friends} friends: loopback traffic per friend (anchor >= 1 B/s)"
            ),
            kith_rate,
            bare.bytes_per_sec_per_friend.max(1.0),
            "B/s",
            "<= 100 B/s",
            kith_rate <= 100.0,
        ),
    ])
}

/// `kith` as a command: the binary built next to this one, or this binary
/// running the same code (`--as-kith`, see `main`).
fn kith_command() -> anyhow::Result<tokio::process::Command> {
    let built = kith_tests::sink::sibling_binary("kith");
    if built.is_file() {
        return Ok(tokio::process::Command::new(built));
    }
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command.arg("--as-kith");
    Ok(command)
}

/// A real `kith daemon` on a fresh home, stopped when dropped.
struct Daemon {
    home: tempfile::TempDir,
    /// Killed when the daemon is dropped (`kill_on_drop`).
    _process: tokio::process::Child,
    pid: u64,
}

impl Daemon {
    async fn start() -> anyhow::Result<Daemon> {
        let home = tempfile::tempdir()?;
        // Its log, for the error if it does not start (next to its files:
        // the home is the bench's own temporary directory).
        let log_path = home.path().join("bench-daemon.log");
        let log = std::fs::File::create(&log_path)?;
        let daemon = Daemon {
            _process: kith_command()?
                .arg("--home")
                .arg(home.path())
                .args([
                    "daemon",
                    "--listen",
                    "/ip4/127.0.0.1/tcp/0",
                    "--api",
                    "127.0.0.1:0",
                ])
                .arg("--no-mdns")
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| anyhow::anyhow!("cannot start a kith daemon: {e}"))?,
            pid: 0,
            home,
        };
        // `kith daemon` on an empty home creates the account first.
        let ready = daemon.home.path().join("daemon.json");
        let started = kith_tests::wait_for(Duration::from_secs(60), || {
            let ready = ready.clone();
            async move { ready.is_file() }
        })
        .await;
        if !started {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            anyhow::bail!(
                "the kith daemon did not start within 60 s: {}",
                tail.join(" | ")
            );
        }
        let info: serde_json::Value = serde_json::from_slice(&std::fs::read(&ready)?)?;
        let pid = info["pid"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no pid in daemon.json: {info}"))?;
        Ok(Daemon { pid, ..daemon })
    }

    fn resident(&self) -> Resident {
        resident(self.pid)
    }

    /// Run `kith --home HOME ARGS --json` against this daemon.
    async fn cli(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let output = kith_command()?
            .arg("--home")
            .arg(self.home.path())
            .args(args)
            .arg("--json")
            .stderr(Stdio::piped())
            .output()
            .await?;
        anyhow::ensure!(
            output.status.success(),
            "kith {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(serde_json::from_slice(&output.stdout)?)
    }

    /// Befriend `leaf` with a ticket of this daemon's, as two people do.
    async fn befriend(&self, leaf: &TestNode) -> anyhow::Result<()> {
        let invite = self.cli(&["friend", "invite"]).await?;
        let ticket = invite["ticket"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no ticket in {invite}"))?;
        let ticket = Ticket::parse(TicketKind::Friend, ticket)?;
        let hub = ticket.account;
        leaf.node
            .add_friend(kith_node::node::FriendTarget::Ticket(ticket), String::new())
            .await?;
        let made = kith_tests::until(&leaf.node, |n| async move {
            n.friends()
                .await
                .is_ok_and(|f| f.iter().any(|f| f.account == hub))
        })
        .await;
        anyhow::ensure!(made, "a friendship with the daemon was not made");
        Ok(())
    }
}

/// Which side of B8 a child process measures (the bare swarms: Kith's
/// side is the daemon's own process).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Side {
    Bare,
}

/// One side's figures, as a child process prints them.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Measured {
    bytes_per_sec_per_friend: f64,
}

async fn measure_in_child(
    side: Side,
    friends: usize,
    window: Duration,
) -> anyhow::Result<Measured> {
    let output = tokio::process::Command::new(std::env::current_exe()?)
        .arg("--idle-child")
        .arg(match side {
            Side::Bare => "bare",
        })
        .arg("--idle-friends")
        .arg(friends.to_string())
        .arg("--idle-window-secs")
        .arg(window.as_secs().to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await?;
    anyhow::ensure!(output.status.success(), "the B8 child process failed");
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The child's side of [`run`]: bare swarms around a hub, left to settle,
/// then their loopback traffic printed as JSON on stdout.
pub async fn child(side: Side, friends: usize, window: Duration) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    match side {
        Side::Bare => {
            let (hub_addr, hub_task) = bare_swarm(None).await?;
            tasks.push(hub_task);
            for _ in 0..friends {
                let (_, task) = bare_swarm(Some(hub_addr.clone())).await?;
                tasks.push(task);
            }
        }
    }
    tokio::time::sleep(SETTLE).await;
    let bytes_per_sec_per_friend = idle_rate(window).await / friends as f64;
    println!(
        "{}",
        serde_json::to_string(&Measured {
            bytes_per_sec_per_friend,
        })?
    );
    for task in tasks {
        task.abort();
    }
    Ok(())
}

async fn bare_swarm(
    dial: Option<libp2p::Multiaddr>,
) -> anyhow::Result<(libp2p::Multiaddr, tokio::task::JoinHandle<()>)> {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|_| ping::Behaviour::default())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build();
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    if let Some(hub) = dial {
        swarm.dial(hub)?;
    }
    let task = tokio::spawn(async move {
        loop {
            let _ = swarm.select_next_some().await;
        }
    });
    Ok((addr, task))
}
