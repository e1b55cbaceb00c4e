//! Human-readable tables (comfy-table) for terminals.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{ContentArrangement, Table};

use super::or_unknown;
use crate::model::Outcome;
use crate::model::results::RunRecord;

pub fn new_table() -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table
}

/// The summary of one hammer run, with a sentence that says what the outcome means.
pub fn hammer_summary(r: &RunRecord) -> String {
    let mut table = new_table();
    let rows: Vec<(&str, String)> = vec![
        ("method", format!("{} ({})", r.method, r.method_name)),
        (
            "isolation",
            r.effective_isolation
                .clone()
                .unwrap_or_else(|| "unknown (not a counter server)".to_string()),
        ),
        (
            "requests",
            format!("{} (concurrency {})", r.requests, r.concurrency),
        ),
        ("acknowledged", r.acknowledged.to_string()),
        ("rejected", r.rejected.to_string()),
        ("unknown", r.unknown.to_string()),
        (
            "counter",
            format!(
                "{} -> {} (change {})",
                r.before,
                or_unknown(r.final_count),
                or_unknown(r.change)
            ),
        ),
        ("outcome", format!("{} {}", r.verdict, r.outcome)),
        (
            "overlap",
            match (r.overlap, r.peak_in_flight) {
                (Some(overlap), Some(peak)) => format!(
                    "{:.0} % of acknowledged increments overlapped another in the database; at most {peak} at once",
                    overlap * 100.0
                ),
                _ => "unknown (the server did not say when its database work ran)".to_string(),
            },
        ),
        (
            "database",
            if r.settings.is_empty() {
                "settings unknown".to_string()
            } else {
                super::settings_text(&r.settings)
            },
        ),
        (
            "errors",
            if r.errors.is_empty() {
                "none".into()
            } else {
                r.errors_text()
            },
        ),
        ("lost updates seen", r.duplicate_writes.to_string()),
        (
            "latency ms",
            format!(
                "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
                r.latency.p50_ms,
                r.latency.p90_ms,
                r.latency.p99_ms,
                r.latency.p999_ms,
                r.latency.max_ms
            ),
        ),
        (
            "time",
            format!("{:.1} ms, {:.0} req/s", r.duration_ms, r.throughput_rps),
        ),
    ];
    for (key, value) in rows {
        table.add_row(vec![key.to_string(), value]);
    }
    let mut out = table.to_string();
    out.push('\n');
    out.push_str(&explain(r));
    out.push('\n');
    out
}

/// One sentence on what the outcome means.
pub fn explain(r: &RunRecord) -> String {
    use Outcome::*;
    let interrupted = if r.interrupted {
        format!(
            "Interrupted after {} of {} requests. ",
            r.completed, r.requests
        )
    } else {
        String::new()
    };
    let failed = r.rejected + r.unknown;
    let change = r.change.unwrap_or(0);
    let what = match r.outcome {
        Exact if r.unknown > 0 => format!(
            "Exact: the counter grew by exactly {}, so all {} requests whose answers were lost (unknown) were applied.",
            change, r.unknown
        ),
        Exact => format!("Exact: the counter grew by exactly {change}."),
        Rejected if r.unknown > 0 => format!(
            "Rejected: {}, and {} more failed without a definite answer but were not applied ({}); every acknowledged increment is there.",
            super::refusals::of(r),
            r.unknown,
            r.errors_text()
        ),
        Rejected => format!(
            "Rejected: {} ({}); every acknowledged increment is there.",
            super::refusals::of(r),
            r.errors_text()
        ),
        Failed => format!(
            "Failed: {} requests got no definite answer (server errors or timeouts: {}), and none of them was applied; every acknowledged increment is there.",
            failed,
            r.errors_text()
        ),
        Incomplete => format!(
            "Incomplete, no verdict: {}; nothing acknowledged was lost, but the run did not test the method as asked.",
            super::refusals::of(r)
        ),
        Lost => format!(
            "LOST: {} requests were acknowledged but the counter grew by {}: {} acknowledged increments vanished.",
            r.acknowledged,
            change,
            r.acknowledged as i64 - change
        ),
        Extra => format!(
            "EXTRA: the counter grew by {change}, more than the {} acknowledged and {} unknown requests.",
            r.acknowledged, r.unknown
        ),
        Ambiguous => format!(
            "Ambiguous: the counter grew by {change}: some of the {} requests of unknown fate were applied.",
            r.unknown
        ),
        Unknown => format!(
            "Unknown: the counter could not be read after the run ({}); {} requests were acknowledged, {} rejected, {} of unknown fate.",
            r.note.as_deref().unwrap_or("no reason given"),
            r.acknowledged,
            r.rejected,
            r.unknown
        ),
    };
    let judged = match r.verdict {
        crate::model::Verdict::Inconclusive => {
            " Inconclusive (?): the increments hardly overlapped in the database, so the method was not tested by a race."
        }
        _ => "",
    };
    format!("{interrupted}{what}{judged}")
}

/// A table in this crate's style, as Markdown when `markdown`.
pub fn styled(markdown: bool) -> Table {
    let mut table = new_table();
    if markdown {
        table.load_style(ASCII_MARKDOWN);
    }
    table
}
