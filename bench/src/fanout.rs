//! B1: a profile edit applied on N online friends (star around the editor),
//! against raw libp2p gossipsub fanning the same payload out over the same
//! topology in the same run.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kith_node::{Event, node::Visibility};
use kith_tests::TestNode;
use libp2p::{Multiaddr, gossipsub, noise, swarm::SwarmEvent, tcp, yamux};
use tokio::sync::mpsc;
use tokio_stream::{StreamMap, wrappers::BroadcastStream};

use crate::report::{Row, percentile};

/// Bytes of the edited value (and of the raw gossipsub payload).
pub const PAYLOAD: usize = 100;

/// Latencies in ms: (p50, p99, max) for Kith and for raw gossipsub.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub friends: usize,
    pub kith: (f64, f64, f64),
    pub gossipsub: (f64, f64, f64),
}

pub async fn run(
    sizes: &[usize],
    edits: usize,
    durable_write_ms: f64,
) -> anyhow::Result<(Vec<Row>, Vec<Point>)> {
    let mut rows = Vec::new();
    let mut points = Vec::new();
    for &friends in sizes {
        let (mut kith, mut saved) = kith_latencies(friends, edits).await?;
        let saved_p50 = percentile(&mut saved, 50.0);
        let mut raw = gossipsub_latencies(friends, edits).await?;
        let k = (
            percentile(&mut kith, 50.0),
            percentile(&mut kith, 99.0),
            percentile(&mut kith, 100.0),
        );
        let g = (
            percentile(&mut raw, 50.0),
            percentile(&mut raw, 99.0),
            percentile(&mut raw, 100.0),
        );
        points.push(Point {
            friends,
            kith: k,
            gossipsub: g,
        });
        let bound = 1.25 * g.1 + durable_write_ms;
        rows.push(Row::judged(
            "B1",
            &format!(
                "edit applied on {friends} friends: p99 (p50 {:.1} / {:.1}, max {:.1} / {:.1}; saved p50 {saved_p50:.2})",
                k.0, g.0, k.2, g.2
            ),
            k.1,
            g.1,
            "ms",
            &format!("<= 1.25x+{durable_write_ms:.1}ms"),
            k.1 <= bound,
        ));
    }
    Ok((rows, points))
}

/// Per edit and friend, the time until that friend had it; per edit, the
/// time until the editor was told "saved" (durable, not yet announced).
async fn kith_latencies(friends: usize, edits: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let hub = TestNode::spawn().await?;
    let hub_id = hub.node.account();
    let mut leaves = Vec::new();
    // The friends are DHT clients, so the topology is the anchor's star: in
    // one process DHT servers would all connect to each other.
    for _ in 0..friends {
        let leaf = TestNode::spawn_dht_client().await?;
        kith_tests::befriend(&hub, &leaf).await;
        leaves.push(leaf);
    }
    // Everyone holds the hub's profile before measuring.
    hub.node
        .set_field("bio".into(), "warm-up".into(), Visibility::Public)
        .await?;
    for leaf in &leaves {
        let deadline = Instant::now() + Duration::from_secs(60);
        while leaf
            .node
            .profile(Some(hub_id))
            .await
            .map(|p| p.fields.get("bio").map(|f| f.0.clone()))
            .ok()
            .flatten()
            .as_deref()
            != Some("warm-up")
        {
            anyhow::ensure!(Instant::now() < deadline, "warm-up did not reach a friend");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // Every friend's events in one stream, read as they come: each arrival is
    // timed when it is there, not when a sequential read reaches it (which
    // made the p50 the running maximum), like the anchor's per-swarm stamps.
    let mut arrivals = StreamMap::new();
    for (i, leaf) in leaves.iter().enumerate() {
        arrivals.insert(i, BroadcastStream::new(leaf.node.subscribe()));
    }
    let mut latencies = Vec::new();
    let mut saved = Vec::new();
    for edit in 0..edits {
        let value = format!("{edit:0width$}", width = PAYLOAD);
        let start = Instant::now();
        let save = hub.node.set_field("bio".into(), value, Visibility::Public);
        tokio::pin!(save);
        let mut is_saved = false;
        let mut arrived = vec![false; friends];
        let mut pending = friends;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !is_saved || pending > 0 {
            tokio::select! {
                result = &mut save, if !is_saved => {
                    result?;
                    is_saved = true;
                    saved.push(start.elapsed().as_secs_f64() * 1e3);
                }
                Some((i, event)) = arrivals.next() => {
                    let event = event.map_err(|e| anyhow::anyhow!("friend {i} missed events: {e}"))?;
                    let is_the_edit = matches!(&event, Event::DocUpdated { owner, doc, .. } if *owner == hub_id && doc == "profile");
                    // A second event of one friend for one edit is not a second arrival.
                    if is_the_edit && !arrived[i] {
                        arrived[i] = true;
                        pending -= 1;
                        latencies.push(start.elapsed().as_secs_f64() * 1e3);
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    anyhow::bail!("edit {edit}: {pending} of {friends} friends did not have it within 30 s");
                }
            }
        }
    }
    for leaf in leaves {
        leaf.stop().await;
    }
    hub.stop().await;
    Ok((latencies, saved))
}

/// One bare swarm (TCP, Noise, Yamux, gossipsub with signed messages) in its own task.
struct Bare {
    publish: mpsc::Sender<Vec<u8>>,
    addr: Multiaddr,
}

async fn bare(
    received: mpsc::UnboundedSender<(usize, Instant)>,
    index: usize,
    dial: Option<Multiaddr>,
) -> anyhow::Result<Bare> {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(
            |key| -> Result<gossipsub::Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                let config = gossipsub::ConfigBuilder::default().build()?;
                Ok(gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    config,
                )?)
            },
        )?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    let topic = gossipsub::IdentTopic::new("bench");
    swarm.behaviour_mut().subscribe(&topic)?;
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    if let Some(hub) = dial {
        swarm.dial(hub)?;
    }
    let (publish, mut to_publish) = mpsc::channel::<Vec<u8>>(16);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(data) = to_publish.recv() => { let _ = swarm.behaviour_mut().publish(topic.clone(), data); }
                event = swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(gossipsub::Event::Message { .. }) = event {
                        let _ = received.send((index, Instant::now()));
                    }
                }
            }
        }
    });
    Ok(Bare { publish, addr })
}

async fn gossipsub_latencies(friends: usize, edits: usize) -> anyhow::Result<Vec<f64>> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let hub = bare(tx.clone(), 0, None).await?;
    let mut leaves = Vec::new();
    for i in 1..=friends {
        leaves.push(bare(tx.clone(), i, Some(hub.addr.clone())).await?);
    }
    // Warm up until every leaf hears the hub (subscriptions and mesh settled).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        hub.publish.send(b"warm-up".to_vec()).await?;
        let mut heard = std::collections::HashSet::new();
        let until = Instant::now() + Duration::from_millis(500);
        while let Ok(Some((i, _))) = tokio::time::timeout_at(until.into(), rx.recv()).await {
            heard.insert(i);
        }
        if heard.len() >= friends {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "gossipsub mesh did not form");
    }
    while rx.try_recv().is_ok() {}
    let mut latencies = Vec::new();
    for edit in 0..edits {
        let payload = format!("{edit:0width$}", width = PAYLOAD).into_bytes();
        let start = Instant::now();
        hub.publish.send(payload).await?;
        for _ in 0..friends {
            let (_, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("closed"))?;
            latencies.push(at.duration_since(start).as_secs_f64() * 1e3);
        }
    }
    drop(leaves);
    Ok(latencies)
}

/// An SVG chart of fan-out latency against friend count.
pub fn chart(points: &[Point]) -> String {
    let (w, h, pad) = (640.0, 360.0, 50.0);
    let max_x = points.iter().map(|p| p.friends).max().unwrap_or(1) as f64;
    let max_y = points
        .iter()
        .flat_map(|p| [p.kith.1, p.gossipsub.1])
        .fold(1.0_f64, f64::max)
        * 1.1;
    let x = |f: usize| pad + (f as f64 / max_x) * (w - 2.0 * pad);
    let y = |v: f64| h - pad - (v / max_y) * (h - 2.0 * pad);
    let line = |pick: &dyn Fn(&Point) -> f64| {
        points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.friends), y(pick(p))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let series = [
        ("Kith p99", "#c0392b", line(&|p| p.kith.1)),
        ("Kith p50", "#e67e22", line(&|p| p.kith.0)),
        ("gossipsub p99", "#2c3e50", line(&|p| p.gossipsub.1)),
        ("gossipsub p50", "#7f8c8d", line(&|p| p.gossipsub.0)),
    ];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    svg += &format!(
        "<text x=\"{pad}\" y=\"20\" font-size=\"14\">Profile edit fan-out latency vs friends (ms)</text>\n"
    );
    svg += &format!(
        "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - pad,
        w - pad,
        h - pad,
        h - pad
    );
    for p in points {
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            x(p.friends),
            h - pad + 16.0,
            p.friends
        );
    }
    for i in 0..=4 {
        let v = max_y * i as f64 / 4.0;
        svg += &format!(
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text>\n",
            pad - 6.0,
            y(v) + 4.0
        );
    }
    for (i, (name, colour, points)) in series.iter().enumerate() {
        svg += &format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{points}\"/>\n"
        );
        svg += &format!(
            "<text x=\"{}\" y=\"{}\" fill=\"{colour}\">{name}</text>\n",
            w - pad - 110.0,
            pad + 16.0 * i as f64
        );
    }
    svg += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">friends online</text>\n</svg>\n",
        w / 2.0,
        h - 10.0
    );
    svg
}
