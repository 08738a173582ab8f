//! `kith-bench`: Kith's figures side by side with an anchor measured in the
//! same run, as ratios (absolute times drift on a shared machine). A full
//! run repeats the suite three times and reports each row's median-ratio
//! run with the ratio's min-max, so a reader can tell a change from noise.
//!
//! ```text
//! cargo run --release -p kith-bench            # full run (3 runs)
//! cargo run --release -p kith-bench -- --only B1 --repeat 5
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
mod relay;
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
    /// Run only these rows (e.g. `--only B1,B9`).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    only: Vec<String>,
    /// Run the suite this many times and report, per row, the run with the
    /// median ratio and the ratio's min-max over all runs (default 3; 1
    /// with `--quick`).
    #[arg(long, value_name = "N")]
    repeat: Option<usize>,
    /// Nodes in B9's ring (default 500; 10 with `--quick`).
    #[arg(long, value_name = "N")]
    nodes: Option<usize>,
    /// Edits per B1 size (default 30; 5 with `--quick`): more, to profile
    /// the fan-out itself rather than the set-up.
    #[arg(long, hide = true, value_name = "N")]
    edits: Option<usize>,
    /// Write the fan-out latency chart (SVG) here.
    #[arg(long, value_name = "FILE")]
    chart: Option<std::path::PathBuf>,
    /// Measure one side of B8 in this process (used by B8 itself).
    #[arg(long, hide = true, value_name = "SIDE")]
    idle_child: Option<idle::Side>,
    #[arg(long, hide = true, default_value_t = 5)]
    idle_friends: usize,
    #[arg(long, hide = true, default_value_t = 4)]
    idle_window_secs: u64,
    /// Serve as the webhook bridge plugin on stdin/stdout (used by B10 when
    /// `kith-bridge-webhook` is not built next to this binary).
    #[arg(long, hide = true)]
    as_webhook_plugin: bool,
}

fn main() -> anyhow::Result<()> {
    // `kith-bench --as-kith ARGS…` is `kith ARGS…` (B8's daemon, when
    // `kith` is not built next to this binary).
    let mut argv = std::env::args_os();
    if argv.nth(1).is_some_and(|a| a == "--as-kith") {
        let code = kith_node::cli::main_from(std::iter::once("kith".into()).chain(argv));
        std::process::exit(if code == std::process::ExitCode::SUCCESS {
            0
        } else {
            1
        });
    }
    let args = Args::parse();
    // Quiet unless asked: RUST_LOG=debug shows the nodes' logs.
    if std::env::var_os("RUST_LOG").is_some() {
        kith_node::logging::init("warn");
    }
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
    if let Some(side) = args.idle_child {
        return idle::child(
            side,
            args.idle_friends,
            Duration::from_secs(args.idle_window_secs),
        )
        .await;
    }
    let repeat = args.repeat.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let mut runs = Vec::new();
    let mut points = Vec::new();
    for round in 1..=repeat {
        if repeat > 1 {
            eprintln!("run {round} of {repeat}");
        }
        let (rows, p) = measure(&args).await?;
        runs.push(rows);
        points = p;
    }
    let results = report::summarise(runs);
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

/// One run of the chosen rows; also the fan-out chart's points.
async fn measure(args: &Args) -> anyhow::Result<(Vec<Row>, Vec<fanout::Point>)> {
    let q = args.quick;
    let wants =
        |id: &str| args.only.is_empty() || args.only.iter().any(|o| o.eq_ignore_ascii_case(id));
    let mut results: Vec<Row> = Vec::new();
    // Long runs report each figure on stderr as soon as it is measured.
    let mut record = |rows: Vec<Row>| {
        for r in &rows {
            eprintln!(
                "{} {}: kith {:.3} anchor {:.3} {}",
                r.id, r.name, r.kith, r.anchor, r.unit
            );
        }
        results.extend(rows);
    };
    let (b6, durable_write_ms) = durable::run(if q { 50 } else { 500 }).await?;
    let fanout_sizes: &[usize] = if q { &[3, 6] } else { &[10, 50] };
    let mut points = Vec::new();
    if wants("B1") {
        let (rows, p) = fanout::run(
            fanout_sizes,
            args.edits.unwrap_or(if q { 5 } else { 30 }),
            durable_write_ms,
        )
        .await?;
        record(rows);
        points = p;
    }
    if wants("B2") {
        let subscribers = fanout_sizes.last().copied().unwrap_or(50);
        let kith_p99 = points
            .iter()
            .find(|p| p.friends == subscribers)
            .map(|p| p.kith.1);
        record(vec![if q {
            relay::skipped(subscribers)
        } else {
            relay::run(subscribers, 30, kith_p99).await
        }]);
    }
    if wants("B3") {
        record(catchup::run(if q { 500 } else { 10_000 }).await?);
    }
    if wants("B4") {
        record(reconnect::run(if q { 10 } else { 150 })?);
    }
    if wants("B5") {
        record(verify::run(if q { 500 } else { 10_000 })?);
    }
    if wants("B6") {
        record(b6);
    }
    if wants("B7") {
        record(coldstart::run(if q { 500 } else { 10_000 }).await?);
    }
    if wants("B8") {
        record(
            idle::run(
                if q { 5 } else { 150 },
                Duration::from_secs(if q { 4 } else { 10 }),
            )
            .await?,
        );
    }
    if wants("B9") {
        // Nodes that do not serve the DHT hold their friends' connections
        // only; DHT servers also take part in every lookup (see
        // docs/performance.md), so they are measured at a smaller size.
        record(scale::run(args.nodes.unwrap_or(if q { 10 } else { 500 }), false).await?);
        record(scale::run(if q { 10 } else { 100 }, true).await?);
    }
    if wants("B10") {
        record(bridges::run(if q { 30 } else { 1000 }).await?);
    }
    Ok((results, points))
}
