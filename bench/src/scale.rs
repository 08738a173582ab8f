//! B9: how many nodes one machine runs: N in-process nodes in a friend ring,
//! still converging (an edit of each node reaches its ring neighbour), as
//! DHT clients (`dht_server = false`) or as DHT servers.

use std::time::{Duration, Instant};

use kith_node::node::Visibility;
use kith_tests::TestNode;

use crate::report::Row;

pub async fn run(nodes: usize, dht_server: bool) -> anyhow::Result<Vec<Row>> {
    let rss = || {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = rss();
    let mut ring = Vec::new();
    for _ in 0..nodes {
        ring.push(if dht_server {
            TestNode::spawn().await?
        } else {
            TestNode::spawn_dht_client().await?
        });
    }
    for i in 0..nodes {
        let next = (i + 1) % nodes;
        kith_tests::befriend(&ring[next], &ring[i]).await;
    }
    for (i, node) in ring.iter().enumerate() {
        node.node
            .set_field("name".into(), format!("node-{i}"), Visibility::Public)
            .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut converged = 0;
    for i in 0..nodes {
        let owner = ring[(i + 1) % nodes].node.account();
        let want = format!("node-{}", (i + 1) % nodes);
        loop {
            let seen = ring[i]
                .node
                .profile(Some(owner))
                .await
                .ok()
                .and_then(|p| p.fields.get("name").map(|f| f.0.clone()));
            if seen.as_deref() == Some(want.as_str()) {
                converged += 1;
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let gib = (rss() - before) / 1024.0 / 1024.0;
    let mut connections = 0;
    for node in &ring {
        connections += node.node.status().await.map(|s| s.peers.len()).unwrap_or(0);
    }
    for node in ring {
        node.stop().await;
    }
    Ok(vec![Row::alone(
        "B9",
        &format!(
            "{nodes} nodes ({}) in one process, friend ring: converged {converged}/{nodes}, {gib:.2} GiB ({:.0} KiB and {:.1} connections per node)",
            if dht_server {
                "DHT servers"
            } else {
                "DHT clients"
            },
            gib * 1024.0 * 1024.0 / nodes as f64,
            connections as f64 / nodes as f64,
        ),
        nodes as f64,
        "nodes",
        ">= 500 in 8 GiB",
        converged == nodes && nodes >= 500 && gib <= 8.0,
    )])
}
