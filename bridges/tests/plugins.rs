//! The reference bridges as processes: JSON-RPC over stdin/stdout, as the daemon drives them.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    process::{Command, Stdio},
};

fn session(binary: &str, requests: &[serde_json::Value]) -> Vec<serde_json::Value> {
    let mut child = Command::new(binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start plugin");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut answers = Vec::new();
    for request in requests {
        writeln!(stdin, "{request}").expect("write");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        answers.push(serde_json::from_str(&line).expect("a JSON response"));
    }
    drop(stdin);
    assert!(
        child.wait().expect("exit").success(),
        "the plugin exits cleanly when stdin closes"
    );
    answers
}

#[test]
fn the_atom_bridge_speaks_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    let answers = session(
        env!("CARGO_BIN_EXE_kith-bridge-atom"),
        &[
            serde_json::json!({"jsonrpc":"2.0","id":1,"method":"describe"}),
            serde_json::json!({"jsonrpc":"2.0","id":2,"method":"configure","params":{"settings":{"path":feed.display().to_string()},"state_dir":dir.path().display().to_string()}}),
            serde_json::json!({"jsonrpc":"2.0","id":3,"method":"publish","params":{"post":"p1","text":"hi","at":1,"account":"kith1x"}}),
            serde_json::json!({"jsonrpc":"2.0","id":4,"method":"frobnicate"}),
            serde_json::json!("garbage"),
        ],
    );
    assert_eq!(answers[0]["result"]["name"], "atom");
    assert!(answers[1]["result"].is_object());
    assert_eq!(answers[2]["result"]["remote_id"], "p1");
    assert_eq!(answers[3]["error"]["code"], -32601);
    assert!(answers[4]["error"].is_object());
    assert!(std::fs::read_to_string(&feed).unwrap().contains("<entry>"));
}

#[test]
fn the_webhook_bridge_refuses_bad_settings_by_name() {
    let answers = session(
        env!("CARGO_BIN_EXE_kith-bridge-webhook"),
        &[
            serde_json::json!({"jsonrpc":"2.0","id":1,"method":"configure","params":{"settings":{"url":"http://x","colour":"blue"},"state_dir":"/tmp"}}),
        ],
    );
    assert!(
        answers[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
}
