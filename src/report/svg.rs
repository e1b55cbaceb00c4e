//! Hand-written SVG (no plotting dependency): the +/- table coloured by outcome, and bar charts
//! of throughput and p99 latency per cell. Self-contained: no fonts or scripts from outside.

use std::fmt::Write;

use super::cell::{Cell, cells};
use super::escape_markup as escape;
use crate::model::results::MatrixResult;
use crate::model::{Outcome, Verdict};

const LABEL_WIDTH: usize = 170;
const COLUMN_WIDTH: usize = 150;
const HEADER_HEIGHT: usize = 44;
const ROW_HEIGHT: usize = 56;
pub(super) const FONT: &str = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

/// Fill and text colour of an exact cell that did not race ("?").
pub const INCONCLUSIVE: (&str, &str) = ("#fff59d", "#5d4037");

/// Fill and text colour of each outcome (colour-blind-safe enough: they differ in lightness).
pub fn colours(outcome: Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Exact => ("#c8e6c9", "#1b5e20"),
        Outcome::Rejected => ("#ffe0b2", "#8a4b00"),
        Outcome::Lost => ("#ef9a9a", "#7f0000"),
        Outcome::Extra => ("#ce93d8", "#4a148c"),
        Outcome::Ambiguous => ("#e0e0e0", "#333333"),
        Outcome::Failed | Outcome::Incomplete => ("#cfd8dc", "#263238"),
        Outcome::Unknown => ("#f5f5f5", "#333333"),
    }
}

/// The cell's worst outcome over its trials: lost > extra > ambiguous > rejected > exact.
pub fn worst(cell: &Cell<'_>) -> Outcome {
    let rank = |o: Outcome| match o {
        Outcome::Exact => 0,
        Outcome::Rejected => 1,
        Outcome::Failed => 2,
        Outcome::Incomplete => 2,
        Outcome::Ambiguous => 2,
        Outcome::Unknown => 2,
        Outcome::Extra => 3,
        Outcome::Lost => 4,
    };
    cell.runs
        .iter()
        .map(|r| r.outcome)
        .max_by_key(|o| rank(*o))
        .unwrap_or(Outcome::Exact)
}

/// The +/- table of the cells run with `retry`, coloured by outcome, with a legend.
pub fn verdict_table(result: &MatrixResult, retry: u32, title: &str) -> String {
    let cells = cells(result, retry);
    let methods: Vec<_> = {
        let mut seen = Vec::new();
        for cell in &cells {
            if !seen.contains(&cell.method) {
                seen.push(cell.method);
            }
        }
        seen
    };
    let levels = &result.meta.levels;
    let width = (LABEL_WIDTH + COLUMN_WIDTH * methods.len() + 2).max(700);
    let title_height = 30;
    let legend_height = 34;
    let height = title_height + HEADER_HEIGHT + ROW_HEIGHT * levels.len() + legend_height;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="13">"#
    );
    let _ = write!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="4" y="20" font-size="15" font-weight="bold" fill="#222">{}</text>"##,
        escape(title)
    );
    let top = title_height;
    let _ = write!(
        svg,
        r##"<text x="8" y="{}" fill="#555">isolation \ method</text>"##,
        top + 27
    );
    for (i, method) in methods.iter().enumerate() {
        let x = LABEL_WIDTH + i * COLUMN_WIDTH + COLUMN_WIDTH / 2;
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{}" text-anchor="middle" font-weight="bold" fill="#222">{}. {}</text>"##,
            top + 27,
            method.number(),
            escape(method.name())
        );
    }
    for (row, level) in levels.iter().enumerate() {
        let y = top + HEADER_HEIGHT + row * ROW_HEIGHT;
        let _ = write!(
            svg,
            r##"<text x="8" y="{}" fill="#222">{}</text>"##,
            y + ROW_HEIGHT / 2 + 5,
            escape(level.sql_name())
        );
        for (col, method) in methods.iter().enumerate() {
            let Some(cell) = cells
                .iter()
                .find(|c| c.level == *level && c.method == *method)
            else {
                continue;
            };
            let x = LABEL_WIDTH + col * COLUMN_WIDTH;
            let outcome = worst(cell);
            let (fill, ink) = match cell.verdict() {
                None => ("#f5f5f5", "#777777"),
                Some(Verdict::Inconclusive) => INCONCLUSIVE,
                Some(_) => colours(outcome),
            };
            let detail = cell_detail(cell);
            let _ = write!(
                svg,
                r##"<rect x="{}" y="{}" width="{}" height="{}" rx="4" fill="{fill}" stroke="#ffffff" stroke-width="2"><title>{}</title></rect>"##,
                x + 1,
                y + 1,
                COLUMN_WIDTH - 2,
                ROW_HEIGHT - 2,
                escape(&format!(
                    "{} x {}: {detail}",
                    level.sql_name(),
                    method.slug()
                ))
            );
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="middle" font-size="20" font-weight="bold" fill="{ink}">{}</text>"#,
                x + COLUMN_WIDTH / 2,
                y + 25,
                escape(&cell.symbol())
            );
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="{ink}">{}</text>"#,
                x + COLUMN_WIDTH / 2,
                y + 43,
                escape(&detail)
            );
        }
    }
    let legend_y = top + HEADER_HEIGHT + ROW_HEIGHT * levels.len() + 12;
    let mut x = 8;
    let legend = [
        Outcome::Exact,
        Outcome::Rejected,
        Outcome::Failed,
        Outcome::Lost,
        Outcome::Extra,
        Outcome::Ambiguous,
    ]
    .map(|outcome| (colours(outcome), outcome.as_str()));
    let inconclusive = [(INCONCLUSIVE, "? inconclusive")];
    for ((fill, ink), label) in legend.into_iter().chain(inconclusive) {
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{legend_y}" width="14" height="14" rx="2" fill="{fill}"/><text x="{}" y="{}" font-size="12" fill="{ink}">{label}</text>"##,
            x + 19,
            legend_y + 12,
        );
        x += if label.len() > 10 { 130 } else { 90 };
    }
    svg.push_str("</svg>");
    svg
}

/// "23/100 40001" or "100/100": the change over the requests, and the main error.
fn cell_detail(cell: &Cell<'_>) -> String {
    match cell.errors().first() {
        Some((code, _)) => format!("{} {code}", cell.changes_text()),
        None => cell.changes_text(),
    }
}

/// A horizontal bar chart: one bar per labelled value, scaled to the largest.
pub fn bar_chart(title: &str, unit: &str, bars: &[(String, f64, Outcome)]) -> String {
    let label_width = 300;
    let bar_space = 360;
    let bar_height = 18;
    let gap = 6;
    let width = label_width + bar_space + 90;
    let height = 34 + bars.len() * (bar_height + gap) + 10;
    let max = bars
        .iter()
        .map(|b| b.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="12"><rect width="100%" height="100%" fill="#ffffff"/><text x="4" y="20" font-size="15" font-weight="bold" fill="#222">{}</text>"##,
        escape(title)
    );
    for (i, (label, value, outcome)) in bars.iter().enumerate() {
        let y = 34 + i * (bar_height + gap);
        let length = ((value / max) * bar_space as f64).round().max(1.0) as usize;
        let (fill, _) = colours(*outcome);
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end" fill="#222">{}</text><rect x="{label_width}" y="{y}" width="{length}" height="{bar_height}" fill="{fill}" stroke="#888" stroke-width="0.5"/><text x="{}" y="{}" fill="#222">{} {}</text>"##,
            label_width - 8,
            y + 13,
            escape(label),
            label_width + length + 6,
            y + 13,
            format_value(*value),
            escape(unit)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}
