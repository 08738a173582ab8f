//! `TestNet`: several in-process nodes made friends in one call, nodes
//! taken offline (their stores kept) and brought back, and waits over all
//! of them, so multi-node tests say what they test and not how to wire it.

use std::future::Future;

use kith_node::Node;

use crate::{Stopped, TIMEOUT, TestNode, befriend, wait_for};

#[derive(Debug)]
enum Slot {
    Up(TestNode),
    Down(Stopped),
    /// Between the two, while starting or stopping.
    Moving,
}

/// Nodes on loopback, each a different account.
#[derive(Debug)]
pub struct TestNet {
    slots: Vec<Slot>,
}

impl TestNet {
    /// `n` nodes, every pair of them friends (by ticket, each pair waited for).
    pub async fn befriended(n: usize) -> anyhow::Result<TestNet> {
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            nodes.push(TestNode::spawn().await?);
        }
        for i in 0..n {
            for j in i + 1..n {
                befriend(&nodes[i], &nodes[j]).await;
            }
        }
        Ok(TestNet {
            slots: nodes.into_iter().map(Slot::Up).collect(),
        })
    }

    /// Node `i`, which must be up.
    pub fn node(&self, i: usize) -> &TestNode {
        match &self.slots[i] {
            Slot::Up(node) => node,
            _ => panic!("node {i} is offline"),
        }
    }

    /// Stop node `i`, keeping its store.
    pub async fn offline(&mut self, i: usize) {
        if let Slot::Up(node) = std::mem::replace(&mut self.slots[i], Slot::Moving) {
            self.slots[i] = Slot::Down(node.go_offline().await);
        }
    }

    /// Start node `i` again and connect it to every node that is up.
    pub async fn online(&mut self, i: usize) -> anyhow::Result<()> {
        if let Slot::Down(stopped) = std::mem::replace(&mut self.slots[i], Slot::Moving) {
            let node = stopped.start().await?;
            for other in self.up() {
                node.node.connect(other.addr.clone()).await?;
            }
            self.slots[i] = Slot::Up(node);
        }
        Ok(())
    }

    /// The nodes that are up.
    pub fn up(&self) -> impl Iterator<Item = &TestNode> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Up(node) => Some(node),
            _ => None,
        })
    }

    /// Wait until `check` holds on every node that is up.
    pub async fn until_all<F, Fut>(&self, check: F) -> bool
    where
        F: Fn(Node) -> Fut,
        Fut: Future<Output = bool>,
    {
        let nodes: Vec<Node> = self.up().map(|n| n.node.clone()).collect();
        wait_for(TIMEOUT, || {
            let checks: Vec<Fut> = nodes.iter().cloned().map(&check).collect();
            async move {
                for c in checks {
                    if !c.await {
                        return false;
                    }
                }
                true
            }
        })
        .await
    }
}
