//! B8: an idle node with N friends: resident memory and loopback bytes per
//! second per friend, against bare libp2p swarms (TCP, Noise, Yamux, ping)
//! with the same connections, in the same run (each side in a fresh child
//! process).

use std::time::Duration;

use futures::StreamExt as _;
use kith_tests::TestNode;
use libp2p::{noise, ping, swarm::SwarmEvent, tcp, yamux};

use crate::report::Row;

fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
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

/// Which side of B8 a child process measures.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Side {
    Kith,
    Bare,
}

/// One side's figures, as a child process prints them.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Measured {
    rss_kib_per_node: f64,
    bytes_per_sec_per_friend: f64,
}

/// Each side runs in a fresh process of its own, so memory freed by one is
/// not counted as reused by the other.
pub async fn run(friends: usize, window: Duration) -> anyhow::Result<Vec<Row>> {
    let kith = measure_in_child(Side::Kith, friends, window).await?;
    let bare = measure_in_child(Side::Bare, friends, window).await?;
    let kith_rate = kith.bytes_per_sec_per_friend;
    Ok(vec![
        Row::new(
            "B8",
            &format!("idle node with {friends} friends: resident memory per node"),
            kith.rss_kib_per_node,
            bare.rss_kib_per_node.max(1.0),
            "KiB",
            1.2,
            false,
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

async fn measure_in_child(
    side: Side,
    friends: usize,
    window: Duration,
) -> anyhow::Result<Measured> {
    let output = tokio::process::Command::new(std::env::current_exe()?)
        .arg("--idle-child")
        .arg(match side {
            Side::Kith => "kith",
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

/// The child's side of [`run`]: build N friends around a hub, let them
/// settle, measure, and print the figures as JSON on stdout.
pub async fn child(side: Side, friends: usize, window: Duration) -> anyhow::Result<()> {
    let rss_before = rss_kib();
    let mut nodes = Vec::new();
    let mut tasks = Vec::new();
    match side {
        Side::Kith => {
            // A hub (a DHT server) befriended by N nodes, all idle. The
            // friends are DHT clients: in one process, DHT servers would all
            // connect to each other, which N friends on N machines do not.
            let hub = TestNode::spawn().await?;
            for _ in 0..friends {
                let leaf = TestNode::spawn_dht_client().await?;
                kith_tests::befriend(&hub, &leaf).await;
                nodes.push(leaf);
            }
            nodes.push(hub);
        }
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
    let rss_kib_per_node = (rss_kib() - rss_before).max(0.0) / (friends + 1) as f64;
    let bytes_per_sec_per_friend = idle_rate(window).await / friends as f64;
    println!(
        "{}",
        serde_json::to_string(&Measured {
            rss_kib_per_node,
            bytes_per_sec_per_friend,
        })?
    );
    for node in nodes {
        node.stop().await;
    }
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
