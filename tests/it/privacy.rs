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

/// Finding 2 of the privacy review: the replicated friends document held
/// each friendship's signed request, private message included, and the
/// blocked accounts. A friend's copy now holds neither, in any change.
#[tokio::test]
async fn a_friends_copy_of_the_friends_list_holds_no_request_message_and_no_block() {
    use kith_node::node::FriendTarget;
    let (a, b, c) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    befriend(&a, &b).await;
    let x = kith_keys::AccountKey::generate().id();
    a.node.act_on_friend(x, FriendAction::Block).await.unwrap();
    // C asks by account id, with a message meant for A alone.
    c.node.connect(a.addr.clone()).await.unwrap();
    let canary = "canary-private-request-message-4471";
    let a_id = a.node.account();
    c.node
        .add_friend(FriendTarget::Account(a_id), canary.into())
        .await
        .unwrap();
    let c_id = c.node.account();
    assert!(
        until(&a.node, |n| async move {
            n.friend_requests()
                .await
                .is_ok_and(|r| r.iter().any(|r| r.account == c_id))
        })
        .await
    );
    a.node
        .act_on_friend(c_id, FriendAction::Accept)
        .await
        .unwrap();
    // B, A's friend, gets A's friends list with C on it (C becomes a
    // mutual-friend suggestion).
    assert!(
        until(&b.node, |n| async move {
            n.suggestions()
                .await
                .is_ok_and(|s| s.iter().any(|s| s.account == c_id))
        })
        .await,
        "b never saw c on a's friends list"
    );
    let b_dir = b.dir().to_path_buf();
    let (x_text, canary_bytes) = (x.to_string(), canary.as_bytes().to_vec());
    let b = b
        .restart_stopped(|| async move {
            let store = kith_node::store::Store::open(&b_dir.join("db")).unwrap();
            let saved = store
                .load_saved_doc(&a_id, kith_crdt::DocKind::Friends)
                .unwrap()
                .expect("b holds a's friends document");
            let mut bytes = saved.snapshot.unwrap_or_default();
            for piece in saved.incrementals {
                bytes.extend(piece);
            }
            let me = kith_keys::DeviceKey::generate().id();
            let mut doc = kith_crdt::Doc::load(&bytes, &me).unwrap();
            // Change chunks hold their values uncompressed: search them all.
            for change in doc.changes_since(&[]).unwrap() {
                let has = |needle: &[u8]| change.bytes.windows(needle.len()).any(|w| w == needle);
                assert!(
                    !has(&canary_bytes),
                    "the request's message is in a's friends document"
                );
                assert!(
                    !has(x_text.as_bytes()),
                    "a block is in a's friends document"
                );
            }
        })
        .await
        .unwrap();
    drop(b);
}
