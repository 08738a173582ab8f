//! Test harness for in-process Kith nodes on loopback: `TestNet`, `wait_for`.
//!
//! Nodes here are the same `Node` the daemon runs, with real libp2p over
//! TCP on 127.0.0.1 (port 0) and a real sled store in a temp dir.

use std::{future::Future, time::Duration};

use kith_node::{Identity, Node, NodeOptions, store::Store};
use libp2p::Multiaddr;

/// Generous: tests check behaviour, benchmarks check speed.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One in-process node and the temp dir holding its store.
#[derive(Debug)]
pub struct TestNode {
    pub node: Node,
    pub addr: Multiaddr,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TestNode {
    /// A node with a fresh account.
    pub async fn spawn() -> anyhow::Result<TestNode> {
        Self::with_identity(Identity::generate("test", kith_node::unix_now())?).await
    }

    /// A node with the given identity, even an inconsistent one (for tests
    /// of how peers treat a node that lies about itself).
    pub async fn with_identity(identity: Identity) -> anyhow::Result<TestNode> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(&dir.path().join("db"))?;
        let options = NodeOptions {
            identity,
            store,
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
            bootstrap: Vec::new(),
            mdns: false,
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
            _dir: dir,
        })
    }

    pub async fn stop(self) {
        self.node.shutdown().await;
        let _ = self.task.await;
    }
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
