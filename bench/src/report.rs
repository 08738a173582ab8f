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
    pub ratio: f64,
    pub target: String,
    pub met: bool,
}

impl Row {
    /// `max_ratio`: the target is met when kith / anchor ≤ it (`lower is better`),
    /// or ≥ it when `higher_is_better`.
    pub fn new(
        id: &str,
        name: &str,
        kith: f64,
        anchor: f64,
        unit: &str,
        max_ratio: f64,
        higher_is_better: bool,
    ) -> Row {
        let ratio = if anchor > 0.0 {
            kith / anchor
        } else {
            f64::INFINITY
        };
        let (met, target) = if higher_is_better {
            (ratio >= max_ratio, format!(">= {max_ratio}x"))
        } else {
            (ratio <= max_ratio, format!("<= {max_ratio}x"))
        };
        Row {
            id: id.into(),
            name: name.into(),
            kith,
            anchor,
            unit: unit.into(),
            ratio,
            target,
            met,
        }
    }
}

pub fn print_table(rows: &[Row]) {
    println!(
        "{:<4} {:<58} {:>14} {:>14} {:>8} {:>9} {:>4}",
        "id", "figure", "kith", "anchor", "ratio", "target", "met"
    );
    for r in rows {
        println!(
            "{:<4} {:<58} {:>14} {:>14} {:>8.2} {:>9} {:>4}",
            r.id,
            format!("{} ({})", r.name, r.unit),
            format_value(r.kith),
            format_value(r.anchor),
            r.ratio,
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
