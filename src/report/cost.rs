//! The cost of correctness as a picture: every method and level at its throughput (x),
//! coloured by outcome, so that "correct" and "fast" are read off one chart.

use std::fmt::Write;

use super::cell::{Cell, cells};
use super::escape_markup as escape;
use super::svg::{FONT, INCONCLUSIVE, colours, worst};
use crate::model::results::MatrixResult;
use crate::model::{Isolation, MethodId, Verdict};

const LABEL_WIDTH: f64 = 190.0;
const PLOT_WIDTH: f64 = 560.0;
const ROW_HEIGHT: f64 = 30.0;
const TOP: f64 = 40.0;

/// One row per method, one dot per level at its mean throughput; the dot's colour is the
/// cell's outcome ("?" in its own colour), its label the level.
pub fn chart(result: &MatrixResult, retry: u32, title: &str) -> String {
    let cells = cells(result, retry);
    let methods: Vec<MethodId> = {
        let mut seen = Vec::new();
        for cell in cells.iter().filter(|c| !c.runs.is_empty()) {
            if !seen.contains(&cell.method) {
                seen.push(cell.method);
            }
        }
        seen
    };
    let fastest = cells
        .iter()
        .map(Cell::mean_rps)
        .fold(0.0, f64::max)
        .max(1.0);
    let height = TOP + ROW_HEIGHT * methods.len() as f64 + 60.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="12"><rect width="100%" height="100%" fill="#ffffff"/><text x="4" y="20" font-size="15" font-weight="bold" fill="#222">{}</text>"##,
        escape(title)
    );
    for (row, method) in methods.iter().enumerate() {
        let y = TOP + ROW_HEIGHT * row as f64 + ROW_HEIGHT / 2.0;
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end" fill="#222">{}</text><line x1="{LABEL_WIDTH}" y1="{y}" x2="{}" y2="{y}" stroke="#e0e0e0"/>"##,
            LABEL_WIDTH - 10.0,
            y + 4.0,
            escape(&method.title()),
            LABEL_WIDTH + PLOT_WIDTH
        );
        let dots = cells
            .iter()
            .filter(|c| c.method == *method && !c.runs.is_empty());
        for (index, cell) in dots.enumerate() {
            let x = LABEL_WIDTH + PLOT_WIDTH * cell.mean_rps() / fastest;
            let (fill, ink) = match cell.verdict() {
                Some(Verdict::Inconclusive) => INCONCLUSIVE,
                _ => colours(worst(cell)),
            };
            // Labels alternate above and below the line, so that close dots stay legible.
            let label_y = if index % 2 == 0 { y - 9.0 } else { y + 17.0 };
            let _ = write!(
                svg,
                r##"<circle cx="{x:.1}" cy="{y}" r="7" fill="{fill}" stroke="{ink}"><title>{}</title></circle><text x="{x:.1}" y="{label_y}" text-anchor="middle" font-size="10" fill="{ink}">{}</text>"##,
                escape(&format!(
                    "{} x {}: {} {}, {:.0} req/s",
                    cell.level.sql_name(),
                    method.slug(),
                    cell.symbol(),
                    cell.outcomes(),
                    cell.mean_rps()
                )),
                short(cell.level)
            );
        }
    }
    let axis_y = TOP + ROW_HEIGHT * methods.len() as f64 + 10.0;
    let _ = write!(
        svg,
        r##"<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#888"/><text x="{LABEL_WIDTH}" y="{}" fill="#555">0</text><text x="{}" y="{}" text-anchor="end" fill="#555">{fastest:.0} req/s</text><text x="{}" y="{}" text-anchor="middle" fill="#555">throughput (more is faster); colour: outcome (green exact, orange refused, red lost, yellow ?)</text>"##,
        LABEL_WIDTH + PLOT_WIDTH,
        axis_y + 15.0,
        LABEL_WIDTH + PLOT_WIDTH,
        axis_y + 15.0,
        LABEL_WIDTH + PLOT_WIDTH / 2.0,
        axis_y + 35.0,
    );
    svg.push_str("</svg>");
    svg
}

fn short(level: Isolation) -> &'static str {
    match level {
        Isolation::ReadUncommitted => "RU",
        Isolation::ReadCommitted => "RC",
        Isolation::RepeatableRead => "RR",
        Isolation::Serializable => "S",
    }
}
