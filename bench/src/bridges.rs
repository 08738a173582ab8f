//! B10: bridge fan-out: posts to three webhook bridges through the durable
//! outbox, against calling the same plugins directly without it.

use std::{
    collections::BTreeMap,
    io::{BufRead as _, BufReader, Write as _},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use kith_node::{bridges::BridgeConfig, node::Visibility, store::DeliveryState};
use kith_tests::{
    TestNode,
    sink::{Reply, WebhookSink, sibling_binary},
};

use crate::report::Row;

const BRIDGES: usize = 3;

/// The webhook plugin: the built one, or this binary serving as it
/// (through a two-line wrapper script, since a plugin is one command).
fn webhook_plugin(scratch: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let built = sibling_binary("kith-bridge-webhook");
    if built.is_file() {
        return Ok(built);
    }
    let wrapper = scratch.join("kith-bridge-webhook");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' --as-webhook-plugin\n",
            std::env::current_exe()?.display()
        ),
    )?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    Ok(wrapper)
}

pub async fn run(posts: usize) -> anyhow::Result<Vec<Row>> {
    let scratch = tempfile::tempdir()?;
    let plugin = webhook_plugin(scratch.path())?;
    let sinks: Vec<WebhookSink> = (0..BRIDGES)
        .map(|_| WebhookSink::start(Arc::new(|_| Reply::Ok)))
        .collect::<Result<_, _>>()?;

    // Kith: post, then wait for every delivery.
    let node = TestNode::spawn().await?;
    for (i, sink) in sinks.iter().enumerate() {
        let mut settings = BTreeMap::new();
        settings.insert("url".to_string(), sink.url.clone());
        node.node
            .add_bridge(BridgeConfig {
                name: format!("hook{i}"),
                plugin: plugin.display().to_string(),
                settings,
            })
            .await?;
    }
    let start = Instant::now();
    let mut ids = Vec::new();
    for i in 0..posts {
        ids.push(
            node.node
                .post(format!("bench post {i}"), Visibility::Public, None)
                .await?,
        );
    }
    let deadline = start + Duration::from_secs(600);
    for id in &ids {
        loop {
            let d = node.node.post_status(id.clone()).await?;
            if d.len() == BRIDGES && d.iter().all(|d| d.state == DeliveryState::Delivered) {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "deliveries did not finish");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let kith_secs = start.elapsed().as_secs_f64();
    node.stop().await;
    let received: usize = sinks.iter().map(|s| s.received().len()).sum();
    let distinct: usize = sinks.iter().map(|s| s.distinct()).sum();
    let lost = BRIDGES * posts - distinct;
    let duplicates = received - distinct;

    // Anchor: the same plugins driven directly, one after another, no outbox.
    let anchor_sinks: Vec<WebhookSink> = (0..BRIDGES)
        .map(|_| WebhookSink::start(Arc::new(|_| Reply::Ok)))
        .collect::<Result<_, _>>()?;
    let dir = tempfile::tempdir()?;
    let anchor_secs = tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let mut plugins = Vec::new();
        for (i, sink) in anchor_sinks.iter().enumerate() {
            let mut child = Command::new(&plugin).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
            let mut stdin = child.stdin.take().ok_or_else(|| anyhow::anyhow!("no stdin"))?;
            let mut stdout = BufReader::new(child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?);
            let state = dir.path().join(format!("s{i}"));
            std::fs::create_dir_all(&state)?;
            writeln!(stdin, "{}", serde_json::json!({"jsonrpc":"2.0","id":0,"method":"configure","params":{"settings":{"url":sink.url},"state_dir":state.display().to_string()}}))?;
            let mut line = String::new();
            stdout.read_line(&mut line)?;
            plugins.push((child, stdin, stdout));
        }
        let start = Instant::now();
        for p in 0..posts {
            for (_, stdin, stdout) in &mut plugins {
                writeln!(stdin, "{}", serde_json::json!({"jsonrpc":"2.0","id":p + 1,"method":"publish","params":{"post":format!("a{p}"),"text":format!("bench post {p}"),"at":1,"account":"kith1x"}}))?;
                let mut line = String::new();
                stdout.read_line(&mut line)?;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        for (mut child, _, _) in plugins {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(secs)
    })
    .await??;
    Ok(vec![Row::new(
        "B10",
        &format!(
            "{posts} posts x {BRIDGES} webhook bridges: wall (lost {lost}, duplicates {duplicates})"
        ),
        kith_secs * 1e3,
        anchor_secs * 1e3,
        "ms",
        2.0,
        false,
    )])
}
