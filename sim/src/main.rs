//! `kith-sim`: Kith's replication under partitions, loss, reordering,
//! duplication, crash-restarts, changing friendships, a revoked device and
//! a forging peer — with real Automerge documents and real signatures, no
//! sockets, in seeded virtual time. Each node serves and applies through
//! `kith_protocol::replication`, the code the daemon runs.
//!
//! ```text
//! kith-sim [--seeds N | --seed S] [--nodes N] [--inject no-verify|serve-all|forget-since] [--json]
//! ```
//!
//! Prints `{"seeds","nodes","converged","lost","divergent","forged_accepted",
//! "leaked","p99_ticks"}`. The same seed gives the same result; `--inject`
//! plants a bug the checks must catch. Exits 1 when any seed did not hold
//! (2 on bad arguments). Seeds run on every core; the report does not
//! depend on how many.

mod net;
mod node;
mod rng;
mod world;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use node::Inject;

struct Args {
    seeds: Vec<u64>,
    nodes: usize,
    inject: Inject,
    json: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut out = Args {
        seeds: (1..=20).collect(),
        nodes: 20,
        inject: Inject::None,
        json: false,
    };
    let number = |v: Option<String>, what: &str| -> Result<u64, String> {
        v.ok_or_else(|| format!("{what} needs a number"))?
            .parse()
            .map_err(|_| format!("{what} needs a number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seeds" => out.seeds = (1..=number(args.next(), "--seeds")?).collect(),
            "--seed" => out.seeds = vec![number(args.next(), "--seed")?],
            "--nodes" => out.nodes = number(args.next(), "--nodes")? as usize,
            "--inject" => {
                out.inject = match args.next().as_deref() {
                    Some("no-verify") => Inject::NoVerify,
                    Some("serve-all") => Inject::ServeAll,
                    Some("forget-since") => Inject::ForgetSince,
                    other => {
                        return Err(format!(
                            "unknown bug {other:?} (no-verify, serve-all, forget-since)"
                        ));
                    }
                }
            }
            "--json" => out.json = true,
            "-h" | "--help" => {
                return Err(
                    "usage: kith-sim [--seeds N | --seed S] [--nodes N] [--inject BUG] [--json]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if out.nodes < 4 {
        return Err("--nodes needs at least 4".into());
    }
    Ok(out)
}

/// Run every seed, on as many threads as there are cores; the outcomes
/// come back in seed order (each seed is its own world: threads change only
/// how long it takes, never what it finds).
fn run_all(args: &Args) -> Vec<world::Outcome> {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut found: Vec<(usize, world::Outcome)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(args.seeds.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    while let Some(&seed) = args.seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
                        mine.push((seed as usize, world::run(seed, args.nodes, args.inject)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    if found.len() != args.seeds.len() {
        // A worker panicked (its message is on stderr): a simulator bug.
        eprintln!("error: a simulated world panicked; rerun its seed alone with --seed");
        std::process::exit(1);
    }
    found.sort_by_key(|(seed, _)| *seed);
    found.into_iter().map(|(_, outcome)| outcome).collect()
}

fn main() {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    let (mut converged, mut lost, mut divergent, mut forged, mut leaked) = (0u64, 0, 0, 0, 0);
    let mut latencies = Vec::new();
    let mut unclean = 0;
    for (seed, outcome) in args.seeds.iter().zip(run_all(&args)) {
        if outcome.converged {
            converged += 1;
        }
        let clean = outcome.converged && outcome.forged_accepted == 0 && outcome.leaked == 0;
        unclean += u64::from(!clean);
        if !clean && !args.json {
            eprintln!(
                "seed {seed}: converged {}, lost {}, divergent {}, forged accepted {}, leaked {}",
                outcome.converged,
                outcome.lost,
                outcome.divergent,
                outcome.forged_accepted,
                outcome.leaked
            );
        }
        lost += outcome.lost;
        divergent += outcome.divergent;
        forged += outcome.forged_accepted;
        leaked += outcome.leaked;
        latencies.extend(outcome.latencies);
    }
    latencies.sort_unstable();
    let p99 = latencies
        .get((latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0);
    let report = serde_json::json!({
        "seeds": args.seeds.len(),
        "nodes": args.nodes,
        "converged": converged,
        "lost": lost,
        "divergent": divergent,
        "forged_accepted": forged,
        "leaked": leaked,
        "p99_ticks": p99,
    });
    if args.json {
        println!("{report}");
    } else {
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        println!(
            "{} seeds in {secs:.1} s ({:.1} seeds/s)",
            args.seeds.len(),
            args.seeds.len() as f64 / secs.max(1e-9)
        );
    }
    // Scripts and CI read the exit code: any seed that did not hold fails.
    if unclean > 0 {
        std::process::exit(1);
    }
}
