//! The matrix in the original's layout (rows: isolation levels; columns: methods) and a details
//! table that says why each cell is what it is.

use super::cell::{Cell, cells};
use super::grid::{level_method_grid, not_applicable_text};
use super::settings_text;
use super::table::styled;
use crate::model::results::MatrixResult;
use crate::model::{MethodId, Verdict};

/// The +/- table of the original study, for the cells run with `retry`.
pub fn verdict_table(result: &MatrixResult, retry: u32, markdown: bool) -> String {
    let cells = cells(result, retry);
    let (levels, methods) = (&result.meta.levels, &result.meta.methods);
    let table = level_method_grid(
        "isolation \\ method",
        levels,
        methods,
        markdown,
        |level, method| {
            cells
                .iter()
                .find(|c| c.level == level && c.method == method)
                .map(Cell::symbol)
                .unwrap_or_default()
        },
    );
    table.to_string()
}

/// Per cell: final/requests, outcome, the main SQLSTATEs, p99 and throughput.
pub fn details_table(result: &MatrixResult, retry: u32, markdown: bool) -> String {
    let mut table = styled(markdown);
    table.set_header(vec![
        "isolation",
        "method",
        "final/requests",
        "outcome",
        "errors",
        "overlap / peak",
        "p99 ms",
        "req/s",
    ]);
    for cell in cells(result, retry) {
        if cell.runs.is_empty() {
            continue;
        }
        table.add_row(vec![
            cell.level.sql_name().to_string(),
            MethodId::title(cell.method),
            cell.changes_text(),
            cell.outcomes(),
            cell.errors_text(3),
            cell.contention_text(),
            format!("{:.1}", cell.p99_ms()),
            format!("{:.0}", cell.mean_rps()),
        ]);
    }
    table.to_string()
}

/// "without retry" or "with --retry N".
pub fn retry_title(retry: u32) -> String {
    if retry == 0 {
        "without retry".to_string()
    } else {
        format!("with --retry {retry}")
    }
}

/// The tables (a pair per retry setting) and a line about the run.
pub fn full_report(result: &MatrixResult, markdown: bool) -> String {
    let meta = &result.meta;
    let mut out = String::new();
    if meta.interrupted {
        out.push_str(INTERRUPTED);
        out.push_str("\n\n");
    }
    for &retry in &meta.retries {
        if meta.retries.len() > 1 {
            out.push_str(&format!("{}:\n\n", retry_title(retry)));
        }
        out.push_str(&verdict_table(result, retry, markdown));
        out.push_str("\n\n");
        out.push_str(&details_table(result, retry, markdown));
        out.push_str("\n\n");
    }
    out.push_str(LEGEND);
    out.push('\n');
    if let Some(schedules) = &result.schedules {
        out.push('\n');
        out.push_str(&super::proof::beside(result, schedules, markdown));
    }
    if let Some(hint) = inconclusive_hint(result) {
        out.push_str(&hint);
        out.push('\n');
    }
    if result.runs.iter().any(|r| r.overlap.is_none()) {
        out.push_str("overlap unknown: the server did not say when its database work ran\n");
    }
    out.push('\n');
    for gap in &result.not_applicable {
        out.push_str(&format!("n/a: {}\n", not_applicable_text(gap)));
    }
    let ran_as = substitutions(result.runs.iter().filter_map(|r| {
        let asked = r.isolation?.sql_name();
        Some((asked, r.effective_isolation.as_deref()?))
    }));
    for line in &ran_as {
        out.push_str(&format!("level: {line}\n"));
    }
    if !result.not_applicable.is_empty() || !ran_as.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!(
        "{} {} ({}), isolation scope {}, {} requests per cell, concurrency {}, pool {}, {} replica(s), think {} ms, {} trial(s); {:.1} s on {}\n",
        meta.engine,
        meta.server_version,
        settings_text(&meta.settings),
        meta.isolation_scope,
        meta.requests,
        meta.concurrency,
        meta.pool_size,
        meta.replicas,
        meta.think_ms,
        meta.trials,
        meta.wall_ms / 1000.0,
        meta.machine
    ));
    for line in fault_lines(result) {
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(script) = &meta.method_script {
        out.push_str(&format!("method 12 (custom): the script {}\n", script.file));
    }
    out
}

/// One line per run with a fault: what it hit, what came after, what was lost.
fn fault_lines(result: &MatrixResult) -> Vec<String> {
    let number = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
    result
        .runs
        .iter()
        .filter_map(|run| {
            let fault = run.fault.as_ref()?;
            let level = run.isolation.map_or("?", |level| level.sql_name());
            let outage = fault.outage_s.map_or("?".to_string(), |s| format!("{s:.1}"));
            let what_came_after = match fault.survivors {
                Some(survivors) => format!(
                    "the others synced as a cluster of {survivors} after {outage} s, counted on each of them"
                ),
                None => format!(
                    "primary after {}, timeline {} -> {}, {outage} s without a writable primary",
                    fault.primary_after.as_deref().unwrap_or("none"),
                    number(fault.timeline_before),
                    number(fault.timeline_after),
                ),
            };
            Some(format!(
                "fault {} ({} replication): {level} x method {}, trial {}: hit {}, {what_came_after}; {} acknowledged, {} unknown, {} lost",
                fault.fault,
                fault.replication,
                run.method,
                run.trial,
                fault.victim,
                run.acknowledged,
                run.unknown,
                number(fault.lost),
            ))
        })
        .collect()
}

/// Said above the tables of a run stopped by Ctrl-C.
pub const INTERRUPTED: &str =
    "INTERRUPTED by Ctrl-C: the cells below are those that ran; the others are not in the result";

/// What the symbols mean, printed under the tables.
pub const LEGEND: &str = "+ exact, and the requests raced (their database work overlapped); - not exact (the outcome says how); ? exact, but the requests hardly overlapped: nothing was tested; ! no verdict (requests failed, were shed or never sent: the outcome says which)";

/// One line naming the inconclusive cells and what raises contention; None when there are
/// none.
pub fn inconclusive_hint(result: &MatrixResult) -> Option<String> {
    let mut names = Vec::new();
    for &retry in &result.meta.retries {
        for cell in cells(result, retry) {
            if cell.verdict() == Some(Verdict::Inconclusive) {
                let retried = if retry > 0 { " (with retry)" } else { "" };
                names.push(format!(
                    "{} x {}{retried} (overlap / peak {})",
                    cell.level.sql_name(),
                    cell.method.title(),
                    cell.contention_text()
                ));
            }
        }
    }
    if names.is_empty() {
        return None;
    }
    Some(format!(
        "inconclusive: {}. To make the requests race: --think-ms 5, more --concurrency, or durable commits (leave out --no-fsync)",
        names.join("; ")
    ))
}

/// "read committed ran as serializable" for each level the database ran as another one (as
/// CockroachDB and YugabyteDB do), from (requested, effective) pairs, in first-seen order.
pub fn substitutions<'a>(levels: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for (asked, ran) in levels {
        if ran.is_empty() || ran.eq_ignore_ascii_case(asked) {
            continue;
        }
        let line = format!("{asked} ran as {ran}");
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}

/// Several engines side by side: rows are (level, method), columns engines, cells the verdict
/// (without retry).
pub fn comparison_table(results: &[MatrixResult], markdown: bool) -> String {
    let mut table = styled(markdown);
    let mut header = vec!["isolation".to_string(), "method".to_string()];
    header.extend(results.iter().map(|r| r.meta.engine.clone()));
    table.set_header(header);
    if results.is_empty() {
        return String::new();
    }
    let per_engine: Vec<Vec<Cell<'_>>> = results.iter().map(|r| cells(r, 0)).collect();
    for (index, cell) in per_engine[0].iter().enumerate() {
        let mut row = vec![
            cell.level.sql_name().to_string(),
            MethodId::title(cell.method),
        ];
        for engine_cells in &per_engine {
            let symbol = engine_cells.get(index).map(|c| {
                if c.runs.is_empty() {
                    "n/a".to_string()
                } else {
                    format!("{} {}", c.symbol(), c.outcomes())
                }
            });
            row.push(symbol.unwrap_or_default());
        }
        table.add_row(row);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::substitutions;

    #[test]
    fn only_levels_run_as_another_are_named_once_each() {
        let pairs = [
            ("read committed", "serializable"),
            ("read committed", "serializable"),
            ("repeatable read", "repeatable read"),
            ("serializable", "serializable"),
            ("read uncommitted", ""),
            ("repeatable read", "snapshot"),
        ];
        assert_eq!(
            substitutions(pairs.into_iter()),
            [
                "read committed ran as serializable",
                "repeatable read ran as snapshot"
            ]
        );
    }
}
