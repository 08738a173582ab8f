//! Linked platform accounts with proofs, checked through a real bridge
//! against a Mastodon API server (mastodon-mock, installed by `.ci/run`).

use std::{
    collections::BTreeMap,
    process::{Child, Command, Stdio},
    time::Duration,
};

use kith_keys::AccountId;
use kith_node::{Node, bridges::BridgeConfig, events::Event, node::FriendTarget};
use kith_protocol::ticket::{Ticket, TicketKind};
use kith_tests::{TIMEOUT, TestNode, sink::sibling_binary, until};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mastodon_mock() -> Option<(Server, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("mastodon_mock")
        .args([
            "serve",
            "--in-memory",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(child) => Some((Server(child), format!("http://127.0.0.1:{port}"))),
        Err(e) if std::env::var("KITH_SKIP_SERVER_TESTS").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: mastodon_mock not available ({e})");
            None
        }
        Err(e) => panic!(
            "mastodon_mock is not installed ({e}); run .ci/run, or set KITH_SKIP_SERVER_TESTS=1"
        ),
    }
}

async fn toot(instance: &str, text: &str) -> String {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http
            .post(format!("{instance}/api/v1/statuses"))
            .bearer_auth("mock_token")
            .json(&serde_json::json!({"status": text}))
            .send()
            .await
        {
            let status: serde_json::Value = r.json().await.unwrap();
            return status["url"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("mastodon_mock did not come up");
}

fn mastodon_bridge(instance: &str) -> BridgeConfig {
    let mut settings = BTreeMap::new();
    settings.insert("instance".to_string(), instance.to_string());
    settings.insert("token".to_string(), "mock_token".to_string());
    BridgeConfig {
        name: "mastodon".into(),
        plugin: sibling_binary("kith-bridge-mastodon").display().to_string(),
        settings,
    }
}

async fn verified(node: Node, owner: AccountId, handle: &'static str, want: bool) -> bool {
    node.links(Some(owner))
        .await
        .is_ok_and(|links| links.iter().any(|(l, v)| l.handle == handle && *v == want))
}

#[tokio::test]
async fn a_link_proof_is_verified_by_its_owner_and_by_friends() {
    let Some((_server, instance)) = mastodon_mock() else {
        return;
    };
    let (a, b) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    let a_id = a.node.account();

    // A posts its signed statement on the platform and links it.
    let statement = a
        .node
        .link_statement("mastodon".into(), "@testuser".into())
        .await
        .unwrap();
    assert!(statement.contains(&a_id.to_string()));
    let proof = toot(&instance, &statement).await;
    a.node.add_bridge(mastodon_bridge(&instance)).await.unwrap();
    a.node
        .add_link("mastodon".into(), "@testuser".into(), proof)
        .await
        .unwrap();
    assert!(
        until(&a.node, |n| verified(n, a_id, "@testuser", true)).await,
        "a valid proof was not verified"
    );

    // A proof naming another account is not a proof of this link.
    let b_statement = b
        .node
        .link_statement("mastodon".into(), "@testuser@localhost".into())
        .await
        .unwrap();
    let wrong = toot(&instance, &b_statement).await;
    let mut events = a.node.subscribe();
    a.node
        .add_link("mastodon".into(), "@testuser@localhost".into(), wrong)
        .await
        .unwrap();
    // Wait for the check itself, not a guess at how long it takes.
    let checked = tokio::time::timeout(TIMEOUT, async {
        loop {
            match events.recv().await {
                Ok(Event::LinkChecked {
                    handle, verified, ..
                }) if handle == "@testuser@localhost" => break Some(verified),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break None,
            }
        }
    })
    .await;
    assert_eq!(
        checked,
        Ok(Some(false)),
        "the wrong proof was never checked"
    );
    assert!(
        verified(a.node.clone(), a_id, "@testuser@localhost", false).await,
        "a proof naming another account was accepted"
    );

    // A friend checks the proof itself, through its own bridge.
    let invite = a.node.invite(Duration::from_secs(600)).await.unwrap();
    b.node
        .add_friend(
            FriendTarget::Ticket(Ticket::parse(TicketKind::Friend, &invite.ticket).unwrap()),
            String::new(),
        )
        .await
        .unwrap();
    b.node.add_bridge(mastodon_bridge(&instance)).await.unwrap();
    assert!(
        until(&b.node, |n| verified(n, a_id, "@testuser", true)).await,
        "the friend did not verify the proof"
    );
}
