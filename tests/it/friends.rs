//! Friendships between real nodes: tickets, requests by account id, decline,
//! remove, block, the DHT, offline delivery, floods, suggestions.

use std::time::Duration;

use kith_keys::AccountId;
use kith_node::{
    Node,
    node::{DiscoverableChange, FriendAction, FriendTarget},
    store::RequestState,
};
use kith_protocol::{
    records::IdentifierKind,
    ticket::{Ticket, TicketKind},
};
use kith_tests::{TestNode, until};

async fn is_friend(node: Node, account: AccountId) -> bool {
    node.friends()
        .await
        .is_ok_and(|f| f.iter().any(|f| f.account == account))
}

async fn request_state(node: Node, account: AccountId) -> Option<RequestState> {
    let requests = node.friend_requests().await.ok()?;
    requests
        .into_iter()
        .find(|r| r.account == account)
        .map(|r| r.state)
}

async fn has_state(node: Node, account: AccountId, state: RequestState) -> bool {
    request_state(node, account).await == Some(state)
}

async fn not_friend(node: Node, account: AccountId) -> bool {
    !is_friend(node, account).await
}

async fn ticket_of(node: &Node) -> Ticket {
    let invite = node.invite(Duration::from_secs(600)).await.unwrap();
    Ticket::parse(TicketKind::Friend, &invite.ticket).unwrap()
}

#[tokio::test]
async fn a_ticket_makes_friends_on_both_sides_without_a_manual_accept() {
    let (a, b) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    let ticket = ticket_of(&a.node).await;
    let outcome = b
        .node
        .add_friend(FriendTarget::Ticket(ticket.clone()), "hi".into())
        .await
        .unwrap();
    assert_eq!(
        outcome.state,
        RequestState::Friends,
        "the ticket's owner accepts at once"
    );
    assert!(until(&a.node, |n| is_friend(n, b.node.account())).await);
    assert!(until(&b.node, |n| is_friend(n, a.node.account())).await);
    let friends = a.node.friends().await.unwrap();
    assert!(friends[0].online);
    assert_eq!(a.node.status().await.unwrap().friends_online, 1);

    // The ticket is single use: a third node presenting it only gets a pending request.
    let c = TestNode::spawn().await.unwrap();
    let outcome = c
        .node
        .add_friend(FriendTarget::Ticket(ticket), String::new())
        .await
        .unwrap();
    assert_eq!(outcome.state, RequestState::Requested);
    assert!(
        until(&a.node, |n| has_state(
            n,
            c.node.account(),
            RequestState::Pending
        ))
        .await
    );
    assert!(!is_friend(a.node.clone(), c.node.account()).await);
}

#[tokio::test]
async fn a_request_by_account_id_waits_and_can_be_declined_or_accepted() {
    let (a, b, c) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    c.node.connect(a.addr.clone()).await.unwrap();
    b.node.connect(a.addr.clone()).await.unwrap();
    let a_id = a.node.account();

    c.node
        .add_friend(FriendTarget::Account(a_id), "hi from c".into())
        .await
        .unwrap();
    assert!(
        until(&a.node, |n| has_state(
            n,
            c.node.account(),
            RequestState::Pending
        ))
        .await
    );
    let incoming = a.node.friend_requests().await.unwrap();
    assert_eq!(incoming[0].message, "hi from c");
    assert!(
        !is_friend(a.node.clone(), c.node.account()).await,
        "no auto-accept without a ticket"
    );

    a.node
        .act_on_friend(c.node.account(), FriendAction::Decline)
        .await
        .unwrap();
    assert!(until(&c.node, |n| has_state(n, a_id, RequestState::Declined)).await);

    b.node
        .add_friend(FriendTarget::Account(a_id), String::new())
        .await
        .unwrap();
    assert!(
        until(&a.node, |n| has_state(
            n,
            b.node.account(),
            RequestState::Pending
        ))
        .await
    );
    let outcome = a
        .node
        .act_on_friend(b.node.account(), FriendAction::Accept)
        .await
        .unwrap();
    assert_eq!(outcome.state, RequestState::Friends);
    assert!(until(&b.node, |n| is_friend(n, a_id)).await);
}

#[tokio::test]
async fn removing_ends_the_friendship_on_both_sides() {
    let (a, b) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    b.node
        .add_friend(
            FriendTarget::Ticket(ticket_of(&a.node).await),
            String::new(),
        )
        .await
        .unwrap();
    assert!(until(&a.node, |n| is_friend(n, b.node.account())).await);
    a.node
        .act_on_friend(b.node.account(), FriendAction::Remove)
        .await
        .unwrap();
    assert!(!is_friend(a.node.clone(), b.node.account()).await);
    assert!(until(&b.node, |n| not_friend(n, a.node.account())).await);
    // Removing twice is an error, not a silent success.
    assert!(
        a.node
            .act_on_friend(b.node.account(), FriendAction::Remove)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_blocked_account_cannot_reach_the_blocker() {
    let (a, c) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    c.node.connect(a.addr.clone()).await.unwrap();
    a.node
        .act_on_friend(c.node.account(), FriendAction::Block)
        .await
        .unwrap();
    // The blocked account is disconnected and its new requests never arrive.
    let c_device = c.node.device();
    assert!(
        until(&a.node, |n| async move {
            n.status()
                .await
                .is_ok_and(|s| s.peers.iter().all(|p| p.device != c_device))
        })
        .await
    );
    c.node
        .add_friend(FriendTarget::Account(a.node.account()), "let me in".into())
        .await
        .unwrap();
    let _ = c.node.connect(a.addr.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = request_state(a.node.clone(), c.node.account()).await;
    assert_eq!(
        state,
        Some(RequestState::Blocked),
        "the record stays blocked, no pending request"
    );
    assert!(!is_friend(a.node.clone(), c.node.account()).await);
}

#[tokio::test]
async fn an_account_is_found_through_the_dht_when_not_connected() {
    // A and C know only B. C asks for A by account id: the request must find
    // A's signed device record in the DHT, dial A, and be delivered.
    let (a, b, c) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    a.node.connect(b.addr.clone()).await.unwrap();
    c.node.connect(b.addr.clone()).await.unwrap();
    let a_id = a.node.account();
    assert!(
        !c.node
            .status()
            .await
            .unwrap()
            .peers
            .iter()
            .any(|p| p.account == Some(a_id))
    );
    let outcome = c
        .node
        .add_friend(FriendTarget::Account(a_id), "via dht".into())
        .await
        .unwrap();
    assert_eq!(outcome.state, RequestState::Requested);
    assert!(
        until(&a.node, |n| has_state(
            n,
            c.node.account(),
            RequestState::Pending
        ))
        .await
    );
}

#[tokio::test]
async fn a_request_to_an_offline_account_is_delivered_when_it_returns() {
    let (a, c) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    c.node.connect(a.addr.clone()).await.unwrap();
    let a_id = a.node.account();
    let a = a.restart().await.unwrap();
    // While A restarted, C's connection dropped; C queues the request.
    assert!(
        until(&c.node, |n| async move {
            n.status().await.is_ok_and(|s| s.peers.is_empty())
        })
        .await
    );
    c.node
        .add_friend(FriendTarget::Account(a_id), String::new())
        .await
        .unwrap();
    assert_eq!(
        request_state(c.node.clone(), a_id).await,
        Some(RequestState::Requested)
    );
    // A comes back (new port) and C reconnects: the queued request goes out.
    c.node.connect(a.addr.clone()).await.unwrap();
    assert!(
        until(&a.node, |n| has_state(
            n,
            c.node.account(),
            RequestState::Pending
        ))
        .await
    );
}

#[tokio::test]
async fn a_flood_of_requests_is_capped_and_ticket_holders_still_get_through() {
    let a = TestNode::with_pending_cap(2).await.unwrap();
    let a_id = a.node.account();
    let mut flooders = Vec::new();
    for _ in 0..4 {
        let f = TestNode::spawn().await.unwrap();
        f.node.connect(a.addr.clone()).await.unwrap();
        f.node
            .add_friend(FriendTarget::Account(a_id), "spam".into())
            .await
            .unwrap();
        flooders.push(f);
    }
    assert!(
        until(&a.node, |n| async move {
            n.status().await.is_ok_and(|s| s.handshakes_dropped >= 2)
        })
        .await
    );
    let pending = a.node.friend_requests().await.unwrap();
    assert_eq!(
        pending
            .iter()
            .filter(|r| r.state == RequestState::Pending)
            .count(),
        2
    );

    let friend = TestNode::spawn().await.unwrap();
    let outcome = friend
        .node
        .add_friend(
            FriendTarget::Ticket(ticket_of(&a.node).await),
            String::new(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.state, RequestState::Friends);
}

#[tokio::test]
async fn bad_friend_targets_are_refused_without_state_changes() {
    let a = TestNode::spawn().await.unwrap();
    let own = ticket_of(&a.node).await;
    let err = a
        .node
        .add_friend(FriendTarget::Ticket(own), String::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("your own account"), "{err}");
    let err = a
        .node
        .add_friend(FriendTarget::Account(a.node.account()), String::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("your own account"), "{err}");

    let b = TestNode::spawn().await.unwrap();
    let mut expired = ticket_of(&b.node).await;
    expired.expires_at = 1;
    let err = a
        .node
        .add_friend(FriendTarget::Ticket(expired), String::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");

    let err = a
        .node
        .act_on_friend(b.node.account(), FriendAction::Accept)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no pending request"), "{err}");
    assert!(a.node.friend_requests().await.unwrap().is_empty());

    b.node
        .add_friend(
            FriendTarget::Ticket(ticket_of(&a.node).await),
            String::new(),
        )
        .await
        .unwrap();
    let err = b
        .node
        .add_friend(FriendTarget::Account(a.node.account()), String::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already your friend"), "{err}");
}

#[tokio::test]
async fn a_contact_who_opted_in_is_suggested_with_the_reason() {
    let (b, c) = (
        TestNode::spawn().await.unwrap(),
        TestNode::spawn().await.unwrap(),
    );
    c.node.connect(b.addr.clone()).await.unwrap();
    b.node
        .discoverable(DiscoverableChange::Add(
            IdentifierKind::Email,
            "B@Example.org".into(),
        ))
        .await
        .unwrap();
    let contacts = kith_node::contacts::parse(
        "BEGIN:VCARD\nVERSION:3.0\nFN:Bee\nEMAIL:b@example.org\nEND:VCARD\n",
    )
    .unwrap();
    assert_eq!(c.node.import_contacts(contacts).await.unwrap(), 1);
    let b_id = b.node.account();
    let found = until(&c.node, |n| async move {
        n.suggestions().await.is_ok_and(|s| {
            s.iter()
                .any(|s| s.account == b_id && s.reason.contains("Bee"))
        })
    })
    .await;
    assert!(found, "b was not suggested");
    // Someone not discoverable by an address is never suggested for it.
    let contacts =
        kith_node::contacts::parse("BEGIN:VCARD\nFN:Nobody\nEMAIL:nobody@example.org\nEND:VCARD\n")
            .unwrap();
    c.node.import_contacts(contacts).await.unwrap();
    assert_eq!(c.node.suggestions().await.unwrap().len(), 1);
}

/// Requests nobody answers (a Sybil flood fills the queue with them) expire
/// and free their room; fresh ones stay.
#[tokio::test]
async fn unanswered_requests_expire() {
    use kith_node::store::{Direction, RequestRecord, RequestState};
    let identity = kith_node::Identity::generate("test", kith_node::unix_now()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (old, fresh) = (
        kith_keys::AccountKey::generate().id(),
        kith_keys::AccountKey::generate().id(),
    );
    {
        let store = kith_node::store::Store::open(&dir.path().join("db")).unwrap();
        let now = kith_node::unix_now();
        for (account, at) in [
            (
                old,
                now - kith_protocol::limits::PENDING_REQUEST_TTL_SECS - 60,
            ),
            (fresh, now - 60),
        ] {
            store
                .put_request(&RequestRecord {
                    account,
                    direction: Direction::Incoming,
                    state: RequestState::Pending,
                    name: "sybil".into(),
                    message: String::new(),
                    at,
                    signed: Vec::new(),
                    last_error: None,
                    proof: None,
                })
                .unwrap();
        }
        store.flush().unwrap();
    }
    let node = TestNode::start_in(identity, dir).await.unwrap();
    let expired = until(&node.node, |n| async move {
        n.friend_requests()
            .await
            .is_ok_and(|r| r.iter().all(|r| r.account != old))
    })
    .await;
    assert!(expired, "the old request never expired");
    let left = node.node.friend_requests().await.unwrap();
    assert!(left.iter().any(|r| r.account == fresh));
}
