//! Posts and bridges: the feed between friends, and the outbox towards
//! bridge plugins through outages, crashes and misbehaving plugins.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use kith_keys::AccountId;
use kith_node::{Node, bridges::BridgeConfig, node::Visibility, store::DeliveryState};
use kith_tests::{
    TIMEOUT, TestNode, befriend,
    sink::{Reply, WebhookSink, kill_children, sibling_binary},
    until, wait_for,
};

async fn in_feed(node: Node, owner: AccountId, text: &'static str) -> bool {
    node.feed(Some(owner), false, 100)
        .await
        .is_ok_and(|posts| posts.iter().any(|p| p.post.text == text))
}

fn webhook(name: &str, url: &str) -> BridgeConfig {
    let mut settings = BTreeMap::new();
    settings.insert("url".to_string(), url.to_string());
    BridgeConfig {
        name: name.into(),
        plugin: sibling_binary("kith-bridge-webhook").display().to_string(),
        settings,
    }
}

async fn state_of(node: &Node, post: &str) -> Option<(DeliveryState, u32, Option<String>)> {
    let d = node.post_status(post.to_string()).await.ok()?;
    d.first().map(|d| (d.state, d.attempts, d.error.clone()))
}

async fn is_state(node: Node, post: String, state: DeliveryState) -> bool {
    state_of(&node, &post)
        .await
        .is_some_and(|(s, _, _)| s == state)
}

async fn retrying_with(node: Node, post: String, error: &'static str) -> bool {
    state_of(&node, &post).await.is_some_and(|(s, _, e)| {
        s == DeliveryState::Retrying && e.is_some_and(|e| e.contains(error))
    })
}

/// Wait (longer than `until`: retries back off) for a delivery to be recorded.
async fn wait_delivered(node: &Node, post: &str) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !delivered(node.clone(), post.to_string()).await {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

async fn delivered(node: Node, post: String) -> bool {
    state_of(&node, &post)
        .await
        .is_some_and(|(s, _, _)| s == DeliveryState::Delivered)
}

#[tokio::test]
async fn posts_reach_friends_and_friends_only_posts_stay_with_them() {
    let (a, b, c) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    befriend(&a, &b).await;
    c.node.connect(a.addr.clone()).await.unwrap();
    let a_id = a.node.account();
    a.node
        .post("hello world".into(), Visibility::Public, None)
        .await
        .unwrap();
    a.node
        .post("for friends".into(), Visibility::Friends, None)
        .await
        .unwrap();
    assert!(until(&b.node, |n| in_feed(n, a_id, "hello world")).await);
    assert!(until(&b.node, |n| in_feed(n, a_id, "for friends")).await);
    assert!(until(&c.node, |n| in_feed(n, a_id, "hello world")).await);
    assert!(
        !in_feed(c.node.clone(), a_id, "for friends").await,
        "a non-friend sees a friends-only post"
    );
    let all = b.node.feed(None, true, 10).await.unwrap();
    assert_eq!(all.len(), 2, "--all shows friends' posts");
    assert!(all[0].post.at >= all[1].post.at, "newest first");
    assert!(
        a.node
            .post(" ".into(), Visibility::Public, None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_webhook_gets_each_post_exactly_once_even_through_an_outage() {
    let sink = WebhookSink::start(Arc::new(|n| {
        if n <= 2 {
            Reply::Unavailable
        } else {
            Reply::Ok
        }
    }))
    .unwrap();
    let a = TestNode::spawn().await.unwrap();
    a.node.add_bridge(webhook("hook", &sink.url)).await.unwrap();
    let post = a
        .node
        .post("to the hook".into(), Visibility::Public, None)
        .await
        .unwrap();
    // Two 503s: retrying, then delivered on the third attempt.
    assert!(
        until(&a.node, |n| is_state(
            n,
            post.clone(),
            DeliveryState::Retrying
        ))
        .await
    );
    assert!(
        wait_delivered(&a.node, &post).await,
        "not delivered after the outage"
    );
    assert_eq!(state_of(&a.node, &post).await.unwrap().1, 3);
    assert_eq!(sink.received().len(), 1);
    assert_eq!(
        sink.received()[0].0,
        post,
        "the post id is the idempotency key"
    );
    // A friends-only post goes to no bridge unless one is named.
    let private = a
        .node
        .post("private".into(), Visibility::Friends, None)
        .await
        .unwrap();
    assert!(a.node.post_status(private).await.unwrap().is_empty());
    assert!(
        a.node
            .post("x".into(), Visibility::Public, Some(vec!["nope".into()]))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_plugin_killed_mid_delivery_is_restarted_and_the_post_delivered_once() {
    let sink = WebhookSink::start(Arc::new(|n| {
        if n == 1 {
            Reply::Hold(Duration::from_secs(2))
        } else {
            Reply::Ok
        }
    }))
    .unwrap();
    let a = TestNode::spawn().await.unwrap();
    // A private copy of the plugin, so this test kills only its own.
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kith-bridge-webhook");
    std::fs::copy(sibling_binary("kith-bridge-webhook"), &plugin).unwrap();
    let mut config = webhook("hook", &sink.url);
    config.plugin = plugin.display().to_string();
    a.node.add_bridge(config).await.unwrap();
    let post = a
        .node
        .post("through a crash".into(), Visibility::Public, None)
        .await
        .unwrap();
    // The first POST is held by the platform; kill the plugin meanwhile.
    assert!(wait_for(TIMEOUT, || async { sink.arrived() >= 1 }).await);
    assert_eq!(
        kill_children(&plugin),
        1,
        "the plugin process was not found"
    );
    assert!(
        until(&a.node, |n| is_state(
            n,
            post.clone(),
            DeliveryState::Retrying
        ))
        .await
    );
    assert!(
        wait_delivered(&a.node, &post).await,
        "not delivered after the plugin crash"
    );
    assert_eq!(sink.distinct(), 1, "the platform shows the post once");
}

#[tokio::test]
async fn misbehaving_plugins_never_take_the_daemon_down() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::spawn().await.unwrap();
    // A plugin that answers `describe` and `configure`, then prints garbage.
    let garbage = dir.path().join("garbage.py");
    std::fs::write(&garbage, "import sys,json\nfor line in sys.stdin:\n    r=json.loads(line)\n    if r['method'] in ('describe','configure'):\n        print(json.dumps({'jsonrpc':'2.0','id':r['id'],'result':{'name':'g','version':'0','capabilities':['publish']}}),flush=True)\n    else:\n        print('x'*100+' not json',flush=True)\n").unwrap();
    let config = BridgeConfig {
        name: "garbage".into(),
        plugin: "python3".into(),
        settings: BTreeMap::new(),
    };
    // `python3` without the script would wait forever: use a wrapper script.
    let wrapper = dir.path().join("garbage.sh");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec python3 {}\n", garbage.display()),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x", &wrapper.display().to_string()])
        .status()
        .unwrap();
    let config = BridgeConfig {
        plugin: wrapper.display().to_string(),
        ..config
    };
    a.node.add_bridge(config).await.unwrap();
    let post = a
        .node
        .post("into the void".into(), Visibility::Public, None)
        .await
        .unwrap();
    assert!(
        until(&a.node, |n| retrying_with(
            n,
            post.clone(),
            "not a JSON-RPC"
        ))
        .await
    );
    assert!(a.node.status().await.is_ok(), "the daemon still answers");

    // A plugin that does not exist, or refuses its settings: refused at `bridge add`, nothing kept.
    let missing = BridgeConfig {
        name: "missing".into(),
        plugin: "/nonexistent/plugin".into(),
        settings: BTreeMap::new(),
    };
    let err = a.node.add_bridge(missing).await.unwrap_err();
    assert!(err.to_string().contains("did not start"), "{err}");
    let mut bad = webhook("bad", "http://127.0.0.1:9/");
    bad.settings.insert("colour".into(), "blue".into());
    let err = a.node.add_bridge(bad).await.unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
    let names: Vec<String> = a
        .node
        .bridges()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, vec!["garbage".to_string()]);
}
