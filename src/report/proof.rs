//! `matrix --schedules`: the race's verdict beside the schedules' for every cell, and a line
//! naming the cells where they disagree: a race "+" that some schedule breaks is hollow (the
//! race was lucky); a race "-" that no schedule of two sessions shows is a finding to explain
//! (it needs more sessions, or the race saw something else).

use super::cell::cells;
use super::matrix::level_method_grid;
use super::swimlane::swimlanes;
use crate::model::results::MatrixResult;
use crate::model::schedule_results::{Agreement, SchedulesResult};

/// `race / schedules` per cell (retry 0), e.g. `+ / +`, `+ / - lost (hollow)`.
pub fn beside(result: &MatrixResult, schedules: &SchedulesResult, markdown: bool) -> String {
    let cells = cells(result, 0);
    let mut hollow = Vec::new();
    let mut race_only = Vec::new();
    let (levels, methods) = (&result.meta.levels, &result.meta.methods);
    let table = level_method_grid(
        "race / schedules",
        levels,
        methods,
        markdown,
        |level, method| {
            let race = cells
                .iter()
                .find(|c| c.level == level && c.method == method);
            let race = race.and_then(|cell| cell.verdict());
            let proof = schedules.verdict_for(level, method.number());
            match (race, proof) {
                (Some(race), Some((verdict, worst))) => {
                    let worst = match worst.is_exact() {
                        true => String::new(),
                        false => format!(" {worst}"),
                    };
                    let cell = format!("{level} x {method}");
                    let note = match Agreement::of(race, verdict) {
                        Agreement::Hollow => {
                            hollow.push(cell);
                            " (hollow)"
                        }
                        Agreement::RaceOnly => {
                            race_only.push(cell);
                            " (race only)"
                        }
                        Agreement::Same | Agreement::Undecided => "",
                    };
                    format!("{race} / {verdict}{worst}{note}")
                }
                (Some(race), None) => format!("{race} / n/a"),
                (None, _) => "n/a".to_string(),
            }
        },
    );
    let mut out = format!(
        "race and schedules ({} schedules of two sessions, both starting states):\n\n{table}\n",
        schedules.meta.schedules_run
    );
    if !hollow.is_empty() {
        out.push_str(&format!(
            "hollow: the race was exact, but some schedule is not: {}\n",
            hollow.join(", ")
        ));
    }
    if !race_only.is_empty() {
        out.push_str(&format!(
            "race only: no schedule of two sessions shows what the race did (it needs more \
             sessions, or the race saw something else; counter explain --sessions 3 ...): {}\n",
            race_only.join(", ")
        ));
    }
    out
}

/// The HTML report's part: the table, and for each cell some schedule breaks, the shortest
/// such schedule drawn as swimlanes.
pub fn html_section(result: &MatrixResult, schedules: &SchedulesResult) -> String {
    let mut html = format!(
        "<h2>Race and schedules</h2><pre>{}</pre>",
        escape(&beside(result, schedules, false))
    );
    let broken = schedules.cells.iter().filter(|cell| !cell.worst.is_exact());
    for cell in broken {
        let Some(schedule) = cell.shortest(cell.worst) else {
            continue;
        };
        let title = format!(
            "{} x {} ({}), row {}: {}",
            cell.isolation.sql_name(),
            cell.method,
            cell.method_name,
            cell.start.as_str(),
            cell.worst
        );
        html.push_str(&format!(
            "<details><summary>{}</summary><figure>{}</figure></details>",
            escape(&title),
            swimlanes(schedule, schedules.meta.sessions, &title)
        ));
    }
    html
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
