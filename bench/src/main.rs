//! `kith-bench`: Kith's figures side by side with an anchor measured in the
//! same run, as ratios (absolute times drift on a shared machine).
//!
//! ```text
//! cargo run --release -p kith-bench            # full run
//! cargo run --release -p kith-bench -- --quick # small sizes, a smoke test (CI)
//! cargo run --release -p kith-bench -- --json  # one JSON document
//! ```

mod catchup;
mod report;
mod verify;

use clap::Parser;

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
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let changes = if args.quick { 500 } else { 10_000 };
    let mut results = Vec::new();
    results.extend(catchup::run(changes).await?);
    results.extend(verify::run(changes)?);
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
