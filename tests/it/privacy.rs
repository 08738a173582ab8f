//! What each kind of peer may learn (`docs/privacy.md`), held with the
//! privacy tap every test node carries: canaries (friends-only values,
//! friend ids, blocked ids) must never reach a stranger.

use kith_keys::AccountId;
use kith_node::node::{FriendAction, Visibility};
use kith_tests::{TestNode, befriend, until};

async fn has(node: &TestNode, owner: AccountId, name: &str, value: &str) -> bool {
    let (name, value) = (name.to_string(), value.to_string());
    until(&node.node, |n| {
        let (name, value) = (name.clone(), value.clone());
        async move {
            n.profile(Some(owner))
                .await
                .is_ok_and(|v| v.fields.get(&name).is_some_and(|(x, _)| *x == value))
        }
    })
    .await
}

/// Finding 1 of the privacy review: the check a node sends a stranger it
/// connected to (`kith connect`) named every friend, and the pull that
/// followed sent the heads of their friends-only documents.
#[tokio::test]
async fn a_stranger_learns_no_friend_id_no_block_and_nothing_friends_only() {
    let (a, b, c, s) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    befriend(&a, &b).await;
    befriend(&a, &c).await;
    let blocked = TestNode::spawn().await.unwrap();
    a.node
        .act_on_friend(blocked.node.account(), FriendAction::Block)
        .await
        .unwrap();
    b.node
        .set_field(
            "phone".into(),
            "canary-b-phone-7031".into(),
            Visibility::Friends,
        )
        .await
        .unwrap();
    a.node
        .set_field(
            "secret".into(),
            "canary-a-secret-2209".into(),
            Visibility::Friends,
        )
        .await
        .unwrap();
    a.node
        .set_field("name".into(), "Alice".into(), Visibility::Public)
        .await
        .unwrap();
    assert!(has(&a, b.node.account(), "phone", "canary-b-phone-7031").await);

    // A stranger a connects to on purpose: followed, its public documents
    // kept, and it asks a for a's own documents too.
    s.node
        .set_field("motto".into(), "just a stranger".into(), Visibility::Public)
        .await
        .unwrap();
    a.node.connect(s.addr.clone()).await.unwrap();
    assert!(has(&a, s.node.account(), "motto", "just a stranger").await);
    s.node
        .pull(
            a.node.device(),
            a.node.account(),
            kith_crdt::DocKind::Friends,
        )
        .await
        .unwrap();
    s.node
        .pull(
            a.node.device(),
            b.node.account(),
            kith_crdt::DocKind::ProfilePrivate,
        )
        .await
        .unwrap();
    s.node
        .pull(
            a.node.device(),
            a.node.account(),
            kith_crdt::DocKind::Profile,
        )
        .await
        .unwrap();
    let a_id = a.node.account();
    assert!(
        has(&s, a_id, "name", "Alice").await,
        "the stranger never got a's public profile"
    );

    assert!(
        a.tap.checked() > 0,
        "nothing a sent the stranger was checked"
    );
    assert_eq!(a.tap.leaks(), Vec::<String>::new());
    let shown = s.node.profile(Some(a_id)).await.unwrap();
    assert!(!shown.fields.contains_key("secret"));
}
