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
        }
    }
}

pub fn print_table(rows: &[Row]) {
    println!(
        "{:<4} {:<62} {:>12} {:>12} {:>8} {:>16} {:>4}",
        "id", "figure", "kith", "anchor", "ratio", "target", "met"
    );
    for r in rows {
        println!(
            "{:<4} {:<62} {:>12} {:>12} {:>8} {:>16} {:>4}",
            r.id,
            format!("{} ({})", r.name, r.unit),
            format_value(r.kith),
            format_value(r.anchor),
            r.ratio
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "-".into()),
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
