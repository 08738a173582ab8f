//! Peers are accounts: the hello exchange, and what happens to a peer that lies.

use kith_keys::{AccountKey, DeviceCert, DeviceKey};
use kith_node::{Event, Identity, Node};
use kith_tests::{TIMEOUT, TestNode, wait_for};

async fn account_of_peer(node: &Node, peer: &Node) -> Option<kith_keys::AccountId> {
    let status = node.status().await.ok()?;
    status
        .peers
        .into_iter()
        .find(|p| p.device == peer.device())?
        .account
}

#[tokio::test]
async fn connected_nodes_learn_each_others_accounts() {
    let a = TestNode::spawn().await.unwrap();
    let b = TestNode::spawn().await.unwrap();
    let mut a_events = a.node.subscribe();
    let device = a.node.connect(b.addr.clone()).await.unwrap();
    assert_eq!(device, b.node.device());
    assert!(
        wait_for(TIMEOUT, || async {
            account_of_peer(&a.node, &b.node).await == Some(b.node.account())
        })
        .await
    );
    assert!(
        wait_for(TIMEOUT, || async {
            account_of_peer(&b.node, &a.node).await == Some(a.node.account())
        })
        .await
    );
    let event = tokio::time::timeout(TIMEOUT, a_events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event,
        Event::PeerConnected {
            device: b.node.device(),
            account: b.node.account()
        }
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_node_presenting_a_certificate_for_another_key_is_disconnected() {
    let honest = TestNode::spawn().await.unwrap();
    let mut events = honest.node.subscribe();

    // The liar owns a valid certificate, but for a device key it does not hold.
    let account = AccountKey::generate();
    let someone_else = DeviceKey::generate();
    let stolen_cert = DeviceCert::issue(&account, someone_else.id(), "stolen", 1).unwrap();
    let liar_identity = Identity {
        account_key: Some(account),
        device_key: DeviceKey::generate(),
        cert: stolen_cert,
    };
    let liar = TestNode::with_identity(liar_identity).await.unwrap();

    liar.node.connect(honest.addr.clone()).await.unwrap();
    let rejected = tokio::time::timeout(TIMEOUT, async {
        loop {
            match events.recv().await {
                Ok(Event::PeerRejected { device, reason }) => break (device, reason),
                Ok(_) => continue,
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
    .expect("no PeerRejected event");
    assert_eq!(rejected.0, liar.node.device());
    assert!(
        rejected.1.contains("certificate is for device"),
        "{}",
        rejected.1
    );

    let gone = |node: &Node, other: &Node| {
        let (node, other) = (node.clone(), other.device());
        async move {
            node.status()
                .await
                .is_ok_and(|s| s.peers.iter().all(|p| p.device != other))
        }
    };
    assert!(
        wait_for(TIMEOUT, || gone(&honest.node, &liar.node)).await,
        "honest node still connected"
    );
    assert!(
        wait_for(TIMEOUT, || gone(&liar.node, &honest.node)).await,
        "liar still connected"
    );

    // And it stays out: a new connection is dropped while the rejection lasts,
    // and the liar is never once reported as a connected account.
    let _ = liar.node.connect(honest.addr.clone()).await;
    assert!(
        wait_for(TIMEOUT, || gone(&honest.node, &liar.node)).await,
        "liar got back in"
    );
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, Event::PeerConnected { device, .. } if device == liar.node.device()),
            "{event:?}"
        );
    }
    liar.stop().await;
    honest.stop().await;
}

#[tokio::test]
async fn a_forged_certificate_is_rejected() {
    let honest = TestNode::spawn().await.unwrap();
    let mut identity = Identity::generate("forger", 1).unwrap();
    // Claim another account: the signature no longer matches it.
    identity.cert.account = AccountKey::generate().id();
    let forger = TestNode::with_identity(identity).await.unwrap();
    forger.node.connect(honest.addr.clone()).await.unwrap();
    let honest_node = honest.node.clone();
    let forger_device = forger.node.device();
    let cleared = wait_for(TIMEOUT, || {
        let node = honest_node.clone();
        async move {
            node.status()
                .await
                .is_ok_and(|s| s.peers.iter().all(|p| p.device != forger_device))
        }
    })
    .await;
    assert!(cleared, "forger not disconnected");
    forger.stop().await;
    honest.stop().await;
}

#[tokio::test]
async fn node_handle_reports_a_stopped_actor() {
    let node = TestNode::spawn().await.unwrap();
    let handle = node.node.clone();
    node.stop().await;
    assert!(matches!(
        handle.status().await,
        Err(kith_node::NodeError::ActorDropped)
    ));
}
