//! `counter matrix --html FILE`: one self-contained page (inline CSS and SVG; no CDN, no web
//! fonts, no scripts) with the coloured table, charts, the errors per cell and the metadata.

use std::fmt::Write;

use super::cell::cells;
use super::escape_markup as escape;
use super::matrix::{INTERRUPTED, LEGEND, inconclusive_hint, retry_title};
use super::settings_text;
use super::svg::{self, worst};
use crate::model::results::{MatrixResult, RunRecord};

const STYLE: &str = "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:1100px}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px}\
th{background:#f3f3f3}h2{margin-top:1.6em}.meta td:first-child{font-weight:bold}\
.exact{background:#c8e6c9}.rejected{background:#ffe0b2}.failed{background:#cfd8dc}.lost{background:#ef9a9a}.extra{background:#ce93d8}.ambiguous{background:#e0e0e0}\
figure{margin:1em 0}p.note{color:#555;font-size:13px}";

/// The whole page, one section per engine.
pub fn report(results: &[MatrixResult]) -> String {
    let engines: Vec<String> = results
        .iter()
        .map(|r| format!("{} {}", r.meta.engine, r.meta.server_version))
        .collect();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>counter matrix: {}</title><style>{STYLE}</style></head><body>",
        escape(&engines.join(", "))
    );
    html.push_str("<h1>counter matrix</h1>");
    html.push_str("<p>Which locking method survives which isolation level when many requests hit one row? Each cell: concurrent increments of one row; \"+\" when the counter ended at exactly the number of requests.</p>");
    if results.len() > 1 {
        let _ = write!(
            html,
            "<h2>Side by side</h2><pre>{}</pre>",
            escape(&super::matrix::comparison_table(results, false))
        );
    }
    for result in results {
        if results.len() > 1 {
            let _ = write!(
                html,
                "<h1>{} {}</h1>",
                escape(&result.meta.engine),
                escape(&result.meta.server_version)
            );
        }
        html.push_str(&section(result));
    }
    html.push_str("</body></html>\n");
    html
}

/// One engine's tables, charts, gaps, problems and metadata.
fn section(result: &MatrixResult) -> String {
    let meta = &result.meta;
    let mut html = String::new();
    if meta.interrupted {
        let _ = write!(
            html,
            "<p class=\"note\"><strong>{}</strong></p>",
            escape(INTERRUPTED)
        );
    }
    for &retry in &meta.retries {
        let title = format!(
            "{} {}, {}",
            meta.engine,
            meta.server_version,
            retry_title(retry)
        );
        let _ = write!(html, "<h2>{}</h2>", escape(&retry_title(retry)));
        let _ = write!(
            html,
            "<figure>{}</figure>",
            svg::verdict_table(result, retry, &title)
        );
        html.push_str(&details(result, retry));
        html.push_str(&charts(result, retry));
    }
    let _ = write!(html, "<p class=\"note\">{}</p>", escape(LEGEND));
    if let Some(hint) = inconclusive_hint(result) {
        let _ = write!(html, "<p class=\"note\">{}</p>", escape(&hint));
    }
    if let Some(schedules) = &result.schedules {
        html.push_str(&super::proof::html_section(result, schedules));
    }
    if !result.not_applicable.is_empty() {
        html.push_str("<h2>Not applicable on this engine</h2><ul>");
        for gap in &result.not_applicable {
            let _ = write!(
                html,
                "<li>{}</li>",
                escape(&super::grid::not_applicable_text(gap))
            );
        }
        html.push_str("</ul>");
    }
    if !result.problems.is_empty() {
        html.push_str("<h2>Harness problems</h2><ul>");
        for problem in &result.problems {
            let _ = write!(html, "<li>{}</li>", escape(problem));
        }
        html.push_str("</ul>");
    }
    html.push_str(&metadata(result));
    html
}

/// Per cell: outcome, counts, every error code, latency, throughput.
fn details(result: &MatrixResult, retry: u32) -> String {
    let mut html = String::from(
        "<table><tr><th>isolation</th><th>method</th><th>outcome</th><th>change / requests</th><th>acknowledged</th><th>rejected</th><th>unknown</th><th>errors</th><th>overlap / peak</th><th>p99 ms</th><th>req/s</th></tr>",
    );
    for cell in cells(result, retry) {
        let outcome = worst(&cell);
        let sum = |f: fn(&RunRecord) -> u64| -> u64 { cell.runs.iter().map(|r| f(r)).sum() };
        let _ = write!(
            html,
            "<tr class=\"{outcome}\"><td>{}</td><td>{}. {}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.0}</td></tr>",
            escape(cell.level.sql_name()),
            cell.method.number(),
            escape(cell.method.name()),
            escape(&cell.symbol()),
            cell.outcomes(),
            cell.changes_text(),
            sum(|r| r.acknowledged),
            sum(|r| r.rejected),
            sum(|r| r.unknown),
            escape(&cell.errors_text(usize::MAX)),
            escape(&cell.contention_text()),
            cell.p99_ms(),
            cell.mean_rps(),
        );
    }
    html.push_str("</table>");
    html
}

fn charts(result: &MatrixResult, retry: u32) -> String {
    let mut throughput = Vec::new();
    let mut latency = Vec::new();
    for cell in cells(result, retry) {
        if cell.runs.is_empty() {
            continue;
        }
        let label = format!("{} / {}", cell.level.sql_name(), cell.method.slug());
        let outcome = worst(&cell);
        throughput.push((label.clone(), cell.mean_rps(), outcome));
        latency.push((label, cell.p99_ms(), outcome));
    }
    format!(
        "<figure>{}</figure><figure>{}</figure><figure>{}</figure>",
        super::cost::chart(
            result,
            retry,
            "The cost of correctness: throughput and outcome"
        ),
        svg::bar_chart("Throughput per cell", "req/s", &throughput),
        svg::bar_chart("p99 latency per cell", "ms", &latency)
    )
}

fn metadata(result: &MatrixResult) -> String {
    let meta = &result.meta;
    let levels: Vec<&str> = meta.levels.iter().map(|l| l.sql_name()).collect();
    let methods: Vec<String> = meta.methods.iter().map(u32::to_string).collect();
    let retries: Vec<String> = meta.retries.iter().map(u32::to_string).collect();
    let rows = [
        ("engine", meta.engine.clone()),
        ("server version", meta.server_version.clone()),
        ("levels", levels.join(", ")),
        ("methods", methods.join(", ")),
        ("requests per cell", meta.requests.to_string()),
        ("concurrency", meta.concurrency.to_string()),
        ("pool size", meta.pool_size.to_string()),
        ("trials", meta.trials.to_string()),
        ("retry", retries.join(", ")),
        ("replicas", meta.replicas.to_string()),
        ("think ms", meta.think_ms.to_string()),
        ("isolation scope", meta.isolation_scope.to_string()),
        ("database settings", settings_text(&meta.settings)),
        ("machine", meta.machine.clone()),
        ("wall time", format!("{:.1} s", meta.wall_ms / 1000.0)),
        ("counter", env!("CARGO_PKG_VERSION").to_string()),
    ];
    let mut html = String::from("<h2>Run</h2><table class=\"meta\">");
    for (key, value) in rows {
        let _ = write!(html, "<tr><td>{key}</td><td>{}</td></tr>", escape(&value));
    }
    html.push_str("</table>");
    if let Some(script) = &meta.method_script {
        let _ = write!(
            html,
            "<p>Method 12 (custom) ran the script {}:</p><pre>{}</pre>",
            escape(&script.file),
            escape(&script.text)
        );
    }
    html.push_str("<p class=\"note\">Outcomes: exact (change = requests), rejected (the database refused some requests; nothing acknowledged lost), failed (server errors or timeouts, none applied), lost (acknowledged increments vanished), extra (counted twice), ambiguous (some requests of unknown fate were applied).</p>");
    html
}
