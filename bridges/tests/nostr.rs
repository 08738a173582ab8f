//! The Nostr bridge against a real relay running in this process
//! (rust-nostr's relay builder), read back by a real client.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    process::{Command, Stdio},
    time::Duration,
};

use nostr_relay_builder::MockRelay;
use nostr_sdk::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_and_metadata_reach_a_real_relay_once() {
    let relay = MockRelay::run().await.expect("relay");
    let url = relay.url().await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::generate();
    let nsec = keys.secret_key().to_bech32().unwrap();
    let state_dir = dir.path().display().to_string();
    let answers = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kith-bridge-nostr")).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let requests = [
            serde_json::json!({"jsonrpc":"2.0","id":1,"method":"configure","params":{"settings":{"relays":url,"nsec":nsec},"state_dir":state_dir}}),
            serde_json::json!({"jsonrpc":"2.0","id":2,"method":"publish","params":{"post":"p-1","text":"hello nostr","at":1_764_000_000u64,"account":"kith1x"}}),
            serde_json::json!({"jsonrpc":"2.0","id":3,"method":"publish","params":{"post":"p-1","text":"hello nostr","at":1_764_000_000u64,"account":"kith1x"}}),
            serde_json::json!({"jsonrpc":"2.0","id":4,"method":"update_profile","params":{"display_name":"Ann","bio":"from kith"}}),
        ];
        let mut answers = Vec::new();
        for r in requests {
            writeln!(stdin, "{r}").unwrap();
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            answers.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        }
        drop(stdin);
        let _ = child.wait();
        answers
    })
    .await
    .unwrap();
    assert!(answers[0]["result"].is_object(), "{}", answers[0]);
    let id = answers[1]["result"]["remote_id"]
        .as_str()
        .expect("an event id")
        .to_string();
    assert_eq!(
        answers[2]["result"]["remote_id"], id,
        "the same post is the same event"
    );
    assert!(answers[3]["result"].is_object(), "{}", answers[3]);

    let reader = Client::default();
    reader.add_relay(relay.url().await).await.unwrap();
    reader.connect().await;
    let notes = reader
        .fetch_events(
            Filter::new().author(keys.public_key()).kind(Kind::TextNote),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(notes.len(), 1, "one note on the relay");
    let note = notes.first().unwrap();
    assert_eq!(note.content, "hello nostr");
    assert_eq!(note.id.to_hex(), id);
    let meta = reader
        .fetch_events(
            Filter::new().author(keys.public_key()).kind(Kind::Metadata),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let metadata =
        Metadata::from_json(&meta.first().expect("metadata on the relay").content).unwrap();
    assert_eq!(metadata.name.as_deref(), Some("Ann"));
}
