//! `kith-bench`: Kith's figures side by side with an anchor measured in the
//! same run, as ratios (absolute times drift on a shared machine).
//!
//! ```text
//! cargo run --release -p kith-bench            # full run
//! cargo run --release -p kith-bench -- --quick # small sizes, a smoke test (CI)
//! cargo run --release -p kith-bench -- --json  # one JSON document
//! cargo run --release -p kith-bench -- --chart docs/fanout.svg
//! ```

mod bridges;
mod catchup;
mod coldstart;
mod durable;
mod fanout;
mod idle;
mod reconnect;
mod report;
mod scale;
mod verify;

use std::time::Duration;

use clap::Parser;
use report::Row;

#[derive(Debug, Parser)]
#[command(
    name = "kith-bench",
    about = "Kith against its raw building blocks, in one run"
)]
struct Args {
    /// Small sizes, for a smoke test.
    #[arg(long)]
    quick: bool,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
    /// Write the fan-out latency chart (SVG) here.
    #[arg(long, value_name = "FILE")]
    chart: Option<std::path::PathBuf>,
    /// Serve as the webhook bridge plugin on stdin/stdout (used by B10 when
    /// `kith-bridge-webhook` is not built next to this binary).
    #[arg(long, hide = true)]
    as_webhook_plugin: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.as_webhook_plugin {
        let _ = kith_bridges::serve(kith_bridges::webhook::Webhook::default());
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let q = args.quick;
    let mut results: Vec<Row> = Vec::new();
    // Long runs report each figure on stderr as soon as it is measured.
    let progress = |rows: &[Row]| {
        for r in rows {
            eprintln!(
                "{} {}: kith {:.3} anchor {:.3} {}",
                r.id, r.name, r.kith, r.anchor, r.unit
            );
        }
    };
    let (b6, durable_write_ms) = durable::run(if q { 50 } else { 500 }).await?;
    let (b1, points) = fanout::run(
        if q { &[3, 6] } else { &[10, 50] },
        if q { 5 } else { 30 },
        durable_write_ms,
    )
    .await?;
    progress(&b1);
    results.extend(b1);
    results.push(Row::alone("B2", "the same edit fanned out by nostr-rs-relay to 50 clients (not run: needs nostr-rs-relay built, see docs/performance.md)", 0.0, "ms", "<= relay p99", false));
    let rows = catchup::run(if q { 500 } else { 10_000 }).await?;
    progress(&rows);
    results.extend(rows);
    let rows = reconnect::run(if q { 10 } else { 150 })?;
    progress(&rows);
    results.extend(rows);
    let rows = verify::run(if q { 500 } else { 10_000 })?;
    progress(&rows);
    results.extend(rows);
    results.extend(b6);
    let rows = coldstart::run(if q { 500 } else { 10_000 }).await?;
    progress(&rows);
    results.extend(rows);
    results.extend(
        idle::run(
            if q { 5 } else { 50 },
            Duration::from_secs(if q { 2 } else { 10 }),
        )
        .await?,
    );
    let rows = scale::run(if q { 10 } else { 100 }).await?;
    progress(&rows);
    results.extend(rows);
    let rows = bridges::run(if q { 30 } else { 1000 }).await?;
    progress(&rows);
    results.extend(rows);
    if let Some(path) = &args.chart {
        std::fs::write(path, fanout::chart(&points))?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::Report { results })?
        );
    } else {
        report::print_table(&results);
    }
    Ok(())
}
