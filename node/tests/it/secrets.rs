//! A bridge's secret settings never show: not in delivery states, bridge
//! lists or the daemon's log (finding 6 of the privacy review: a webhook
//! URL's token appeared in `kith post status`).

use std::time::Duration;

use crate::util::{KITH, TestHome, wait_for};

#[test]
fn a_webhook_token_appears_in_no_state_list_or_log() {
    let home = TestHome::new();
    home.init();
    let daemon = home.start_daemon();
    let plugin = std::path::Path::new(KITH).with_file_name("kith-bridge-webhook");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The port is closed again: every delivery fails, with the URL at hand.
    let secret = "tok-planted-secret-90210";
    let url = format!("url=http://127.0.0.1:{port}/hook/abcdefghijklmnopqrstu?token={secret}");
    home.json(&[
        "bridge",
        "add",
        "hook",
        "--plugin",
        plugin.to_str().unwrap(),
        "--set",
        &url,
        "--json",
    ]);
    let post = home.json(&["post", "to a closed port", "--json"])["post"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = wait_for(Duration::from_secs(60), || {
        let status = home.json(&["post", "status", &post, "--json"]).to_string();
        status.contains("retrying") || status.contains("failed")
    });
    assert!(failed, "the delivery never reported its failure");
    let status = home.json(&["post", "status", &post, "--json"]).to_string();
    assert!(
        status.contains("127.0.0.1"),
        "the error should still say where: {status}"
    );
    for (what, text) in [
        ("post status", status),
        (
            "bridge list",
            home.json(&["bridge", "list", "--json"]).to_string(),
        ),
        ("the daemon's log", daemon.log()),
    ] {
        assert!(!text.contains(secret), "the secret is in {what}: {text}");
        assert!(
            !text.contains("abcdefghijklmnopqrstu"),
            "the URL's path token is in {what}"
        );
    }
}
