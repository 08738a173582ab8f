//! Test harness for in-process Kith nodes on loopback: `TestNode`,
//! `TestNet` (several befriended nodes, taken offline and brought back),
//! `befriend`, and waits on node state (`until`, `wait_for`) instead of
//! sleeps.
//!
//! Nodes here are the same `Node` the daemon runs, with real libp2p over
//! TCP on 127.0.0.1 (port 0) and a real sled store in a temp dir.

mod net;
pub mod sink;

pub use net::TestNet;

use std::{future::Future, time::Duration};

use kith_node::{Identity, Node, NodeOptions, store::Store, tap::Tap};
use libp2p::Multiaddr;

/// Generous: tests check behaviour, benchmarks check speed.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One in-process node and the temp dir holding its store. Every node
/// carries a privacy tap; a test whose node sent a stranger anything it may
/// not learn fails when the node is dropped.
#[derive(Debug)]
pub struct TestNode {
    pub node: Node,
    pub addr: Multiaddr,
    task: tokio::task::JoinHandle<()>,
    identity: Identity,
    dir: tempfile::TempDir,
    dht_server: bool,
    pub tap: Tap,
    _leaks: LeakGuard,
}

/// Fails the test, when its node goes, if the node's tap saw a leak.
#[derive(Debug)]
struct LeakGuard(Tap);

impl Drop for LeakGuard {
    fn drop(&mut self) {
        let leaks = self.0.leaks();
        if !leaks.is_empty() && !std::thread::panicking() {
            panic!("the privacy tap saw leaks: {leaks:#?}");
        }
    }
}

impl TestNode {
    /// A node with a fresh account.
    pub async fn spawn() -> anyhow::Result<TestNode> {
        Self::with_identity(Identity::generate("test", kith_node::unix_now())?).await
    }

    /// A node with the given identity, even an inconsistent one (for tests
    /// of how peers treat a node that lies about itself).
    pub async fn with_identity(identity: Identity) -> anyhow::Result<TestNode> {
        Self::start(
            identity,
            tempfile::tempdir()?,
            kith_protocol::limits::MAX_PENDING_INCOMING,
            true,
        )
        .await
    }

    /// A node with a fresh account that uses the DHT as a client only
    /// (`dht_server = false`).
    pub async fn spawn_dht_client() -> anyhow::Result<TestNode> {
        let identity = Identity::generate("test", kith_node::unix_now())?;
        Self::start(
            identity,
            tempfile::tempdir()?,
            kith_protocol::limits::MAX_PENDING_INCOMING,
            false,
        )
        .await
    }

    /// A node whose pending-request queue holds at most `cap` requests.
    pub async fn with_pending_cap(cap: usize) -> anyhow::Result<TestNode> {
        let identity = Identity::generate("test", kith_node::unix_now())?;
        Self::start(identity, tempfile::tempdir()?, cap, true).await
    }

    /// Stop this node and start it again on the same store and identity
    /// (a restart, as after a reboot). Its listen port changes.
    pub async fn restart(self) -> anyhow::Result<TestNode> {
        self.restart_stopped(|| async {}).await
    }

    /// Where this node keeps its store (for tests that inspect the bytes).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The node's identity (tests sign things with its keys).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Start a node on a directory whose store a test has prepared.
    pub async fn start_in(identity: Identity, dir: tempfile::TempDir) -> anyhow::Result<TestNode> {
        Self::start(
            identity,
            dir,
            kith_protocol::limits::MAX_PENDING_INCOMING,
            true,
        )
        .await
    }

    /// Stop this node, run `meanwhile` while it is down, then start it again.
    pub async fn restart_stopped<F, Fut>(self, meanwhile: F) -> anyhow::Result<TestNode>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        let stopped = self.go_offline().await;
        meanwhile().await;
        stopped.start().await
    }

    /// Stop this node, keeping its identity and store to start it again.
    pub async fn go_offline(self) -> Stopped {
        let stopped = Stopped {
            identity: self.identity.clone(),
            dir: self.dir,
            dht_server: self.dht_server,
        };
        drop(self._leaks);
        self.node.shutdown().await;
        let _ = self.task.await;
        stopped
    }

    async fn start(
        identity: Identity,
        dir: tempfile::TempDir,
        max_pending_incoming: usize,
        dht_server: bool,
    ) -> anyhow::Result<TestNode> {
        let store = Store::open(&dir.path().join("db"))?;
        let tap = Tap::new();
        let options = NodeOptions {
            identity: identity.clone(),
            store,
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
            bootstrap: Vec::new(),
            mdns: false,
            bridges_dir: dir.path().join("bridges"),
            max_pending_incoming,
            dht_server,
            relay: false,
            tap: Some(tap.clone()),
        };
        let (node, task) = Node::spawn(options).await?;
        let addr = node
            .wait_listening()
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no listen address"))?;
        Ok(TestNode {
            node,
            addr,
            task,
            identity,
            dir,
            dht_server,
            _leaks: LeakGuard(tap.clone()),
            tap,
        })
    }

    pub async fn stop(self) {
        self.node.shutdown().await;
        let _ = self.task.await;
    }
}

/// A node that is down: its identity and store, ready to start again.
#[derive(Debug)]
pub struct Stopped {
    identity: Identity,
    dir: tempfile::TempDir,
    dht_server: bool,
}

impl Stopped {
    /// Start it again on its store (a new listen port).
    pub async fn start(self) -> anyhow::Result<TestNode> {
        TestNode::start(
            self.identity,
            self.dir,
            kith_protocol::limits::MAX_PENDING_INCOMING,
            self.dht_server,
        )
        .await
    }
}

/// Make `b` a friend of `a` with a ticket of `a`'s, and wait until `a` lists `b`.
pub async fn befriend(a: &TestNode, b: &TestNode) {
    use kith_protocol::ticket::{Ticket, TicketKind};
    let invite = a
        .node
        .invite(Duration::from_secs(600))
        .await
        .expect("invite");
    let ticket = Ticket::parse(TicketKind::Friend, &invite.ticket).expect("ticket");
    b.node
        .add_friend(kith_node::node::FriendTarget::Ticket(ticket), String::new())
        .await
        .expect("add friend");
    let b_id = b.node.account();
    let listed = until(&a.node, |n| async move {
        n.friends()
            .await
            .is_ok_and(|f| f.iter().any(|f| f.account == b_id))
    })
    .await;
    assert!(listed, "the friendship was not made");
}

/// Wait until `check(node)` holds, polling the node's state.
pub async fn until<F, Fut>(node: &Node, mut check: F) -> bool
where
    F: FnMut(Node) -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(TIMEOUT, || check(node.clone())).await
}

/// Poll `check` until it returns true or `timeout` passes.
pub async fn wait_for<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
