//! `counter schedules` as tables (terminal or Markdown) and CSV: per starting state the +/-
//! table of the original's layout, proven by every schedule; per cell how many schedules had
//! each class and the shortest one behind its verdict.

use super::csv;
use super::grid::{level_method_grid, not_applicable_text};
use super::settings_text;
use super::table::styled;
use crate::model::Verdict;
use crate::model::schedule::{ScheduleClass, StartState};
use crate::model::schedule_results::{ScheduleCell, ScheduleRecord, SchedulesResult};

/// The cell's symbol: `+`, `~` (not proven: the caps left schedules out), or `-` and its
/// worst class.
pub fn symbol(cell: &ScheduleCell) -> String {
    match cell.worst.is_exact() {
        true => cell.verdict.symbol().to_string(),
        false => format!("- {}", cell.worst),
    }
}

/// The +/- table for the cells that started from `start`.
pub fn verdict_table(result: &SchedulesResult, start: StartState, markdown: bool) -> String {
    let (levels, methods) = (&result.meta.levels, &result.meta.methods);
    let table = level_method_grid(
        "isolation \\ method",
        levels,
        methods,
        markdown,
        |level, method| {
            let cell = result
                .cells
                .iter()
                .find(|c| c.isolation == level && c.method == method.number() && c.start == start);
            let gap = result.not_applicable.iter().any(|gap| {
                gap.isolation == level && gap.method.is_none_or(|m| m == method.number())
            });
            match (cell, gap) {
                (Some(cell), _) => symbol(cell),
                (None, true) => "n/a".to_string(),
                (None, false) => String::new(),
            }
        },
    );
    table.to_string()
}

/// `exact 1, lost 6`, best class first.
pub fn classes_text(cell: &ScheduleCell) -> String {
    let classes = cell.classes.iter();
    let parts = classes.map(|(class, n)| format!("{class} {n}"));
    parts.collect::<Vec<_>>().join(", ")
}

/// `T1 T2 T1 T1 T2 T2`
pub fn order_text(schedule: &ScheduleRecord) -> String {
    let sessions = schedule.order.iter().map(|s| format!("T{s}"));
    sessions.collect::<Vec<_>>().join(" ")
}

/// Per cell: the schedules, their classes, and the shortest schedule of the worst class.
pub fn classes_table(result: &SchedulesResult, markdown: bool) -> String {
    let mut table = styled(markdown);
    table.set_header(vec![
        "isolation",
        "method",
        "row",
        "verdict",
        "schedules",
        "shortest schedule of the worst class",
    ]);
    for cell in &result.cells {
        let shortest = cell.shortest(cell.worst);
        let why = shortest.map_or(String::new(), |s| {
            format!("{}: {}", order_text(s), s.summary)
        });
        let mut counted = format!("{} ({})", cell.schedules_run(), classes_text(cell));
        if cell.cut_by_switches > 0 {
            counted.push_str(&format!(
                ", {} cut by the switch bound",
                cell.cut_by_switches
            ));
        }
        if cell.cut_by_cap > 0 {
            counted.push_str(&format!(", {} over the cap", cell.cut_by_cap));
        }
        if cell.cut_by_stall > 0 {
            counted.push_str(&format!(
                ", {} not run after the cluster stalled",
                cell.cut_by_stall
            ));
        }
        table.add_row(vec![
            cell.isolation.sql_name().to_string(),
            format!("{} {}", cell.method, cell.method_name),
            cell.start.as_str().to_string(),
            symbol(cell),
            counted,
            why,
        ]);
    }
    table.to_string()
}

/// Everything `counter schedules` prints for one engine.
pub fn full_report(result: &SchedulesResult, markdown: bool) -> String {
    let meta = &result.meta;
    let mut out = String::new();
    if meta.interrupted {
        out.push_str(
            "INTERRUPTED by Ctrl-C: the cells below are those explored; the last may be cut \
             short (not proven)\n\n",
        );
    }
    out += &format!(
        "schedules of {} instances on {} {} ({}; isolation scope {})\n\n",
        meta.sessions,
        meta.engine,
        meta.server_version,
        settings_text(&meta.settings),
        meta.isolation_scope.name()
    );
    for &start in &meta.starts {
        out.push_str(&format!("row {} before each schedule:\n\n", start.as_str()));
        out.push_str(&verdict_table(result, start, markdown));
        out.push_str("\n\n");
    }
    out.push_str(&classes_table(result, markdown));
    out.push('\n');
    for gap in &result.not_applicable {
        out.push_str(&format!("\nn/a: {}", not_applicable_text(gap)));
    }
    let unproven = result.cells.iter().any(|c| c.verdict == Verdict::NotProven);
    if unproven {
        out.push_str(
            "\n~ not proven: every schedule run was exact, but the caps (--max-schedules, \
             --max-switches) left some out: a proof that stopped early is no proof",
        );
    }
    let diverged: Vec<&String> = result.cells.iter().flat_map(|c| &c.diverged).collect();
    for note in &diverged {
        out.push_str(&format!("\nNOT REPRODUCIBLE: {note}"));
    }
    let bound = match meta.max_switches {
        Some(max) => format!("at most {max} switches away from a session that could go on"),
        None => "no switch bound".to_string(),
    };
    out.push_str(&format!(
        "\n{} schedules in {:.1} s ({:.0} per second); untouched sessions start in order \
         (the mirror images are not run); {bound}\n",
        meta.schedules_run,
        meta.wall_ms / 1000.0,
        meta.schedules_run as f64 / (meta.wall_ms / 1000.0).max(0.001)
    ));
    out
}

/// One CSV row per cell: the header is the field names.
#[derive(Debug, Default, serde::Serialize)]
struct CellRow {
    engine: String,
    server_version: String,
    isolation: &'static str,
    method: u32,
    method_name: String,
    row: &'static str,
    verdict: &'static str,
    worst: &'static str,
    schedules: u64,
    classes: String,
    cut_by_switches: u64,
    cut_by_cap: u64,
    shortest_worst: String,
    elapsed_ms: String,
}

/// One row per cell, every engine.
pub fn to_csv(results: &[SchedulesResult]) -> String {
    let rows = results.iter().flat_map(|result| {
        result.cells.iter().map(move |cell| {
            let classes = cell.classes.iter().map(|(c, n)| format!("{}={n}", c.key()));
            let shortest = cell.shortest(cell.worst).map(order_text);
            CellRow {
                engine: result.meta.engine.clone(),
                server_version: result.meta.server_version.clone(),
                isolation: cell.isolation.sql_name(),
                method: cell.method,
                method_name: cell.method_name.clone(),
                row: cell.start.as_str(),
                verdict: cell.verdict.symbol(),
                worst: cell.worst.key(),
                schedules: cell.schedules_run(),
                classes: classes.collect::<Vec<_>>().join(";"),
                cut_by_switches: cell.cut_by_switches,
                cut_by_cap: cell.cut_by_cap,
                shortest_worst: shortest.unwrap_or_default(),
                elapsed_ms: format!("{:.1}", cell.elapsed_ms),
            }
        })
    });
    csv::write_rows(csv::header_of(CellRow::default()), rows)
}

/// Whether any schedule lost or doubled an acknowledged increment.
pub fn violations(result: &SchedulesResult) -> impl Iterator<Item = &ScheduleCell> {
    result.cells.iter().filter(|cell| {
        cell.classes
            .keys()
            .any(|c| ScheduleClass::violates_invariant(*c))
    })
}
