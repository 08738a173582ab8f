//! Linked devices between real nodes: pairing, replication across devices,
//! ticket misuse, revocation.

use kith_crdt::DocKind;
use kith_keys::{AccountId, DeviceKey};
use kith_node::{
    Identity, Node,
    net::join::{self, JoinError},
    node::Visibility,
};
use kith_protocol::{
    refusal::WireRefusal,
    ticket::{Ticket, TicketKind},
};
use kith_tests::{TestNode, befriend, until};

async fn pairing_ticket(node: &Node, admin: bool) -> Ticket {
    let invite = node.device_link(600, admin).await.unwrap();
    Ticket::parse(TicketKind::Pairing, &invite.ticket).unwrap()
}

/// Join the account of `ticket` with a fresh device key, as `kith device join` does.
async fn join_as_new_device(ticket: &Ticket) -> Result<Identity, JoinError> {
    let device_key = DeviceKey::generate();
    let joined = join::join(&device_key, ticket, "phone").await?;
    let account_key = joined
        .account_seed
        .map(|s| kith_keys::AccountKey::from_seed(&s));
    Ok(Identity {
        account_key,
        device_key,
        cert: joined.cert,
    })
}

async fn has(node: Node, owner: AccountId, name: &'static str, value: &'static str) -> bool {
    node.profile(Some(owner))
        .await
        .is_ok_and(|v| v.fields.get(name).is_some_and(|(x, _)| x == value))
}

#[tokio::test]
async fn a_linked_device_shares_the_account_and_its_edits_reach_everyone() {
    let (a1, b) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    befriend(&a1, &b).await;
    let a = a1.node.account();
    a1.node
        .set_field("name".into(), "Ann".into(), Visibility::Public)
        .await
        .unwrap();

    let ticket = pairing_ticket(&a1.node, false).await;
    let identity = join_as_new_device(&ticket).await.unwrap();
    assert_eq!(identity.account(), a);
    assert!(
        identity.account_key.is_none(),
        "without --admin the account key stays home"
    );
    let a2 = TestNode::with_identity(identity).await.unwrap();
    a2.node.connect(a1.addr.clone()).await.unwrap();

    assert!(
        until(&a2.node, |n| has(n, a, "name", "Ann")).await,
        "a2 did not get the account's documents"
    );
    let two = |n: Node| async move {
        n.devices(None)
            .await
            .is_ok_and(|d| d.iter().filter(|d| !d.revoked).count() == 2)
    };
    assert!(until(&a1.node, two).await);
    assert!(until(&a2.node, two).await);
    // a2 holds the friends list too, and its edits reach a1 and the friend.
    assert!(
        until(&a2.node, |n| async move {
            n.friends().await.is_ok_and(|f| f.len() == 1)
        })
        .await
    );
    a2.node
        .set_field("city".into(), "Lisbon".into(), Visibility::Friends)
        .await
        .unwrap();
    assert!(until(&a1.node, |n| has(n, a, "city", "Lisbon")).await);
    assert!(
        until(&b.node, |n| has(n, a, "city", "Lisbon")).await,
        "the friend did not get the new device's edit"
    );

    // Concurrent edits of different fields on both devices merge.
    let (x, y) = tokio::join!(
        a1.node
            .set_field("x".into(), "from a1".into(), Visibility::Public),
        a2.node
            .set_field("y".into(), "from a2".into(), Visibility::Public)
    );
    x.unwrap();
    y.unwrap();
    for node in [&a1.node, &a2.node, &b.node] {
        assert!(
            until(node, |n| async move {
                has(n.clone(), a, "x", "from a1").await && has(n, a, "y", "from a2").await
            })
            .await
        );
    }
}

#[tokio::test]
async fn pairing_tickets_are_single_use_and_checked() {
    let a1 = TestNode::spawn().await.unwrap();
    let ticket = pairing_ticket(&a1.node, false).await;
    join_as_new_device(&ticket).await.unwrap();
    let reused = join_as_new_device(&ticket).await.unwrap_err();
    assert!(
        matches!(&reused, JoinError::Refused(WireRefusal::Used)),
        "{reused}"
    );

    let mut wrong = pairing_ticket(&a1.node, false).await;
    wrong.secret[0] ^= 1;
    let err = join_as_new_device(&wrong).await.unwrap_err();
    assert!(
        matches!(&err, JoinError::Refused(WireRefusal::WrongSecret)),
        "{err}"
    );

    let mut other_account = pairing_ticket(&a1.node, false).await;
    other_account.account = kith_keys::AccountKey::generate().id();
    let err = join_as_new_device(&other_account).await.unwrap_err();
    assert!(
        matches!(&err, JoinError::Refused(WireRefusal::WrongAccount)),
        "{err}"
    );
    // No certificate was issued for any of them.
    assert_eq!(
        a1.node.devices(None).await.unwrap().len(),
        2,
        "only a1 and the one real join"
    );
}

#[tokio::test]
async fn a_revoked_device_loses_its_voice_and_friends_only_data() {
    let (a1, b) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    befriend(&a1, &b).await;
    let a = a1.node.account();
    let identity = join_as_new_device(&pairing_ticket(&a1.node, false).await)
        .await
        .unwrap();
    let a2 = TestNode::with_identity(identity).await.unwrap();
    let a2_device = a2.node.device();
    a2.node.connect(a1.addr.clone()).await.unwrap();
    a2.node
        .set_field("city".into(), "Lisbon".into(), Visibility::Public)
        .await
        .unwrap();
    assert!(until(&b.node, |n| has(n, a, "city", "Lisbon")).await);

    // A device without the account key cannot revoke.
    assert!(a2.node.revoke_device(a1.node.device()).await.is_err());
    a1.node.revoke_device(a2_device).await.unwrap();
    let revoked_at = |n: Node| async move {
        n.devices(Some(a))
            .await
            .is_ok_and(|d| d.iter().any(|d| d.device == a2_device && d.revoked))
    };
    assert!(
        until(&b.node, revoked_at).await,
        "the friend never learned of the revocation"
    );

    // The revoked device edits and reaches the friend directly: refused
    // (waited for on the friend's count of rejected changes, not a sleep).
    let rejected_before = b.node.status().await.unwrap().changes_rejected;
    a2.node
        .set_field("city".into(), "Mallory".into(), Visibility::Public)
        .await
        .unwrap();
    let _ = a2.node.connect(b.addr.clone()).await;
    let _ = a2.node.connect(a1.addr.clone()).await;
    let _ = b.node.pull(a2_device, a, DocKind::Profile).await;
    assert!(
        until(&b.node, |n| async move {
            n.status()
                .await
                .is_ok_and(|s| s.changes_rejected > rejected_before)
        })
        .await,
        "the friend never saw the revoked device's edit to refuse it"
    );
    assert!(
        has(b.node.clone(), a, "city", "Lisbon").await,
        "the friend accepted the revoked device's edit"
    );
    assert!(
        has(a1.node.clone(), a, "city", "Lisbon").await,
        "a1 accepted the revoked device's edit"
    );
    // Its earlier edit stays; the account goes on.
    a1.node
        .set_field("city".into(), "Porto".into(), Visibility::Public)
        .await
        .unwrap();
    assert!(until(&b.node, |n| has(n, a, "city", "Porto")).await);
    a1.node
        .set_field("secret".into(), "s3".into(), Visibility::Friends)
        .await
        .unwrap();
    // The friend has it: the revoked device, announced to at the same
    // time, had the same chance.
    assert!(until(&b.node, |n| has(n, a, "secret", "s3")).await);
    let seen = a2.node.profile(Some(a)).await.unwrap();
    assert!(
        !seen.fields.contains_key("secret"),
        "revoked device got friends-only data"
    );
}
