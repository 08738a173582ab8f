//! B8: an idle node with N friends: resident memory and loopback bytes per
//! second per friend, against bare libp2p swarms (TCP, Noise, Yamux, ping)
//! with the same connections, in the same process and run.

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

pub async fn run(friends: usize, window: Duration) -> anyhow::Result<Vec<Row>> {
    // Kith: a hub (a DHT server) befriended by N nodes, all idle. The friends
    // are DHT clients: in one process, DHT servers would all connect to
    // each other, which N friends on N machines do not.
    let rss_before = rss_kib();
    let hub = TestNode::spawn().await?;
    let mut leaves = Vec::new();
    for _ in 0..friends {
        let leaf = TestNode::spawn_dht_client().await?;
        kith_tests::befriend(&hub, &leaf).await;
        leaves.push(leaf);
    }
    tokio::time::sleep(SETTLE).await;
    let kith_rss = (rss_kib() - rss_before) / (friends + 1) as f64;
    let kith_rate = idle_rate(window).await / friends as f64;
    for leaf in leaves {
        leaf.stop().await;
    }
    hub.stop().await;

    // Anchor: bare swarms in the same star.
    let rss_before = rss_kib();
    let mut tasks = Vec::new();
    let (hub_addr, hub_task) = bare_swarm(None).await?;
    tasks.push(hub_task);
    for _ in 0..friends {
        let (_, task) = bare_swarm(Some(hub_addr.clone())).await?;
        tasks.push(task);
    }
    tokio::time::sleep(SETTLE).await;
    let bare_rss = (rss_kib() - rss_before).max(1.0) / (friends + 1) as f64;
    let bare_rate = idle_rate(window).await / friends as f64;
    for t in tasks {
        t.abort();
    }
    Ok(vec![
        Row::new(
            "B8",
            &format!("idle node with {friends} friends: resident memory per node"),
            kith_rss,
            bare_rss,
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
            bare_rate.max(1.0),
            "B/s",
            "<= 100 B/s",
            kith_rate <= 100.0,
        ),
    ])
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
