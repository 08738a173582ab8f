//! B2: the same edit fanned out by a production Nostr relay
//! (`nostr-rs-relay`, built once from the Rust registry) to N subscribed
//! clients over loopback, beside Kith's B1 figure at the same friend count.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use nostr_sdk::prelude::*;
use tokio::{process::Command, sync::mpsc};

use crate::{fanout::PAYLOAD, report::Row, report::percentile};

/// Where the full run installs the relay (inside the workspace's target
/// directory, so one build serves every later run).
fn install_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools")
}

/// The relay binary: `$KITH_NOSTR_RELAY`, or the one installed earlier, or
/// one built now with `cargo install` (it needs `protoc`). Not `--locked`:
/// the relay's own lock file pins a `time` release that no longer builds
/// with current Rust.
async fn relay_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("KITH_NOSTR_RELAY") {
        return Ok(path.into());
    }
    let installed = install_root().join("bin/nostr-rs-relay");
    if installed.exists() {
        return Ok(installed);
    }
    if std::process::Command::new("protoc")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err("protoc is missing (apt-get install protobuf-compiler)".into());
    }
    eprintln!("B2: building nostr-rs-relay once (several minutes)...");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["install", "--quiet", "--root"])
        .arg(install_root())
        .arg("nostr-rs-relay")
        .stdout(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() && installed.exists() {
        Ok(installed)
    } else {
        Err("cargo install nostr-rs-relay failed".into())
    }
}

/// `--quick` leaves the relay out (building it takes minutes).
pub fn skipped(clients: usize) -> Row {
    Row::alone(
        "B2",
        &format!(
            "edit fanned out to {clients} subscribers by nostr-rs-relay (not run: --quick skips it)"
        ),
        0.0,
        "ms",
        "Kith p99 <= relay p99",
        false,
    )
}

pub async fn run(clients: usize, edits: usize, kith_p99: Option<f64>) -> Row {
    let name = format!("edit fanned out to {clients} subscribers by nostr-rs-relay: p99");
    let target = "Kith p99 <= relay p99";
    match relay_latencies(clients, edits).await {
        Ok(mut latencies) => {
            let (p50, p99) = (
                percentile(&mut latencies, 50.0),
                percentile(&mut latencies, 99.0),
            );
            let kith = kith_p99.unwrap_or(f64::NAN);
            Row::judged(
                "B2",
                &format!("{name} (relay p50 {p50:.1} ms; Kith from B1)"),
                kith,
                p99,
                "ms",
                target,
                kith <= p99,
            )
        }
        Err(why) => Row::alone(
            "B2",
            &format!("{name} (not run: {why})"),
            0.0,
            "ms",
            target,
            false,
        ),
    }
}

async fn relay_latencies(clients: usize, edits: usize) -> Result<Vec<f64>, String> {
    let binary = relay_binary().await?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    // The relay takes a port in its config: ask the OS for a free one.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[info]\nrelay_url = \"ws://127.0.0.1:{port}/\"\n\
             [database]\ndata_directory = \"{}\"\n\
             [network]\naddress = \"127.0.0.1\"\nport = {port}\n",
            dir.path().display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let _relay = Command::new(&binary)
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return Err("the relay did not start listening".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    measure(&format!("ws://127.0.0.1:{port}"), clients, edits)
        .await
        .map_err(|e| e.to_string())
}

async fn measure(url: &str, clients: usize, edits: usize) -> anyhow::Result<Vec<f64>> {
    let author = Keys::generate();
    let publisher = Client::new(author.clone());
    publisher.add_relay(url).await?;
    publisher.connect().await;

    // Each subscriber is its own client with its own connection; each
    // reports (subscriber, event id, arrival) as events arrive.
    let (tx, mut rx) = mpsc::channel::<(usize, EventId, Instant)>(clients * 4);
    let mut subscribers = Vec::new();
    for index in 0..clients {
        let client = Client::default();
        client.add_relay(url).await?;
        client.connect().await;
        client
            .subscribe(
                Filter::new()
                    .author(author.public_key())
                    .kind(Kind::TextNote),
                None,
            )
            .await?;
        let mut notifications = client.notifications();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(n) = notifications.recv().await {
                if let RelayPoolNotification::Event { event, .. } = n
                    && tx.send((index, event.id, Instant::now())).await.is_err()
                {
                    break;
                }
            }
        });
        subscribers.push(client);
    }

    // The first note is a warm-up: every subscription is live once all saw it.
    let mut latencies = Vec::new();
    for edit in 0..=edits {
        let content = format!("{edit:0width$}", width = PAYLOAD);
        let start = Instant::now();
        let id = publisher
            .send_event_builder(EventBuilder::text_note(content))
            .await?
            .val;
        let mut seen = vec![false; clients];
        let mut arrived = 0;
        while arrived < clients {
            let (index, event, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("subscribers stopped"))?;
            if event == id && !seen[index] {
                seen[index] = true;
                arrived += 1;
                if edit > 0 {
                    latencies.push(at.duration_since(start).as_secs_f64() * 1e3);
                }
            }
        }
    }
    for client in subscribers {
        client.shutdown().await;
    }
    publisher.shutdown().await;
    Ok(latencies)
}
