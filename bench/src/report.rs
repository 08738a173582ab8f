//! One result row and how the suite prints them.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    pub results: Vec<Row>,
}

/// A figure: Kith's value, the anchor's, their ratio, and the target.
#[derive(Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub kith: f64,
    pub anchor: f64,
    pub unit: String,
    /// `None` where there is no anchor to divide by.
    pub ratio: Option<f64>,
    pub target: String,
    pub met: bool,
    /// Runs this row's figures are the median of.
    pub runs: usize,
    /// The lowest and highest ratio over those runs, `[min, max]` (with one
    /// run, both are the ratio): a change smaller than this is weather.
    pub spread: Option<[f64; 2]>,
}

impl Row {
    /// The target is met when kith / anchor ≤ `bound` (or ≥ it when `higher_is_better`).
    pub fn new(
        id: &str,
        name: &str,
        kith: f64,
        anchor: f64,
        unit: &str,
        bound: f64,
        higher_is_better: bool,
    ) -> Row {
        let ratio = if anchor > 0.0 {
            kith / anchor
        } else {
            f64::INFINITY
        };
        let (met, target) = if higher_is_better {
            (ratio >= bound, format!(">= {bound}x"))
        } else {
            (ratio <= bound, format!("<= {bound}x"))
        };
        Row {
            id: id.into(),
            name: name.into(),
            kith,
            anchor,
            unit: unit.into(),
            ratio: Some(ratio),
            target,
            met,
            runs: 1,
            spread: Some([ratio, ratio]),
        }
    }

    /// A row whose target is not a plain ratio (an absolute bound, or a
    /// bound with an offset); the ratio is still reported.
    pub fn judged(
        id: &str,
        name: &str,
        kith: f64,
        anchor: f64,
        unit: &str,
        target: &str,
        met: bool,
    ) -> Row {
        let ratio = (anchor > 0.0).then(|| kith / anchor);
        Row {
            id: id.into(),
            name: name.into(),
            kith,
            anchor,
            unit: unit.into(),
            ratio,
            target: target.into(),
            met,
            runs: 1,
            spread: ratio.map(|r| [r, r]),
        }
    }

    /// A row with no anchor in this run.
    pub fn alone(id: &str, name: &str, kith: f64, unit: &str, target: &str, met: bool) -> Row {
        Row {
            id: id.into(),
            name: name.into(),
            kith,
            anchor: 0.0,
            unit: unit.into(),
            ratio: None,
            target: target.into(),
            met,
            runs: 1,
            spread: None,
        }
    }
}

/// One row per figure from several runs of the suite: the run with the
/// median ratio (or median value, for rows without an anchor), its verdict,
/// and the spread of the ratio over all runs. Rows keep the first run's
/// order; a figure is its id and its place among that id's rows (names may
/// carry measured values, such as B1's p50).
pub fn summarise(runs: Vec<Vec<Row>>) -> Vec<Row> {
    let mut groups: Vec<((String, usize), Vec<Row>)> = Vec::new();
    for run in runs {
        let mut seen: Vec<String> = Vec::new();
        for row in run {
            let place = seen.iter().filter(|id| **id == row.id).count();
            seen.push(row.id.clone());
            let key = (row.id.clone(), place);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.push(row),
                None => groups.push((key, vec![row])),
            }
        }
    }
    let groups = groups.into_iter().map(|(_, group)| group);
    groups
        .into_iter()
        .filter_map(|mut group| {
            let key = |r: &Row| r.ratio.unwrap_or(r.kith);
            group.sort_by(|a, b| key(a).total_cmp(&key(b)));
            let runs = group.len();
            let ratios: Vec<f64> = group.iter().filter_map(|r| r.ratio).collect();
            let low = ratios.iter().copied().reduce(f64::min);
            let high = ratios.iter().copied().reduce(f64::max);
            let mut median = group.into_iter().nth(runs / 2)?;
            median.runs = runs;
            median.spread = low.zip(high).map(|(low, high)| [low, high]);
            Some(median)
        })
        .collect()
}

pub fn print_table(rows: &[Row]) {
    println!(
        "{:<4} {:<62} {:>12} {:>12} {:>8} {:>13} {:>16} {:>4}",
        "id", "figure", "kith", "anchor", "ratio", "min-max", "target", "met"
    );
    for r in rows {
        let spread = match r.spread {
            Some([low, high]) if r.runs > 1 => format!("{low:.2}-{high:.2}"),
            _ => "-".into(),
        };
        println!(
            "{:<4} {:<62} {:>12} {:>12} {:>8} {:>13} {:>16} {:>4}",
            r.id,
            format!("{} ({})", r.name, r.unit),
            format_value(r.kith),
            format_value(r.anchor),
            r.ratio
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "-".into()),
            spread,
            r.target,
            if r.met { "yes" } else { "NO" }
        );
    }
}

fn format_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// The p-th percentile (0..=100) of samples (sorted in place).
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_median_run_with_the_spread() {
        let run = |kith: f64| {
            vec![
                Row::new(
                    "B1",
                    &format!("p99 (p50 {kith})"),
                    kith,
                    1.0,
                    "ms",
                    2.0,
                    false,
                ),
                Row::new("B1", "50 friends", 1.0, 1.0, "ms", 2.0, false),
            ]
        };
        let rows = summarise(vec![run(3.0), run(1.0), run(2.5)]);
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!(
            (r.runs, r.ratio, r.spread),
            (3, Some(2.5), Some([1.0, 3.0]))
        );
        assert!(!r.met, "judged on the median run");
    }
}
