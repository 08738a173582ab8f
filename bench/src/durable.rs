//! B6: latency of a durable `profile set` against a raw write + fdatasync of
//! the same bytes.

use std::{io::Write as _, time::Instant};

use kith_node::node::Visibility;
use kith_tests::TestNode;

use crate::report::{Row, percentile};

/// p50 of the raw write+fdatasync, for B1's "+ one durable write".
pub async fn run(edits: usize) -> anyhow::Result<(Vec<Row>, f64)> {
    let node = TestNode::spawn().await?;
    let mut kith = Vec::new();
    for i in 0..edits {
        let start = Instant::now();
        node.node
            .set_field("bio".into(), format!("bio-{i:06}"), Visibility::Public)
            .await?;
        kith.push(start.elapsed().as_secs_f64() * 1e3);
    }
    // Anchor: what an incremental save of one such change costs to make durable.
    let dir = tempfile::tempdir_in(node.dir())?;
    let mut file = std::fs::File::create(dir.path().join("raw"))?;
    let bytes = vec![7u8; 160];
    let mut raw = Vec::new();
    for _ in 0..edits {
        let start = Instant::now();
        file.write_all(&bytes)?;
        file.sync_data()?;
        raw.push(start.elapsed().as_secs_f64() * 1e3);
    }
    node.stop().await;
    let (k50, k99) = (percentile(&mut kith, 50.0), percentile(&mut kith, 99.0));
    let (r50, r99) = (percentile(&mut raw, 50.0), percentile(&mut raw, 99.0));
    Ok((
        vec![Row::new(
            "B6",
            &format!("durable profile set: p99 (p50 {k50:.2} / {r50:.2})"),
            k99,
            r99,
            "ms",
            1.5,
            false,
        )],
        r50,
    ))
}
