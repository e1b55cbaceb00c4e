//! `matrix --schedules`: the race's verdict beside the schedules' for every cell, and a line
//! naming the cells where they disagree: a race "+" that some schedule breaks is hollow (the
//! race was lucky); a race "-" that no schedule of two sessions shows is a finding to explain
//! (it needs more sessions, or the race saw something else).

use super::escape_markup as escape;
use super::grid::level_method_grid;
use super::schedules::order_text;
use super::swimlane::swimlanes;
use crate::model::Isolation;
use crate::model::results::MatrixResult;
use crate::model::schedule_results::{Agreement, ScheduleCell, ScheduleRecord, SchedulesResult};

/// `race / schedules` per cell (retry 0), e.g. `+ / +`, `+ / - lost (hollow)`; a cell the
/// explorer looked at with three sessions says so. Each disagreement left is named with the
/// schedule that decides it, or the reason there is none.
pub fn beside(result: &MatrixResult, schedules: &SchedulesResult, markdown: bool) -> String {
    let mut hollow = Vec::new();
    let mut race_only = Vec::new();
    let (levels, methods) = (&result.meta.levels, &result.meta.methods);
    let table = level_method_grid(
        "race / schedules",
        levels,
        methods,
        markdown,
        |level, method| {
            let race = result.race_verdict(level, method.number());
            let proof = schedules.verdict_for(level, method.number());
            let deciding = schedules.deciding_schedule(level, method.number());
            match (race, proof) {
                (Some(race), Some((verdict, worst))) => {
                    let worst = match worst.is_exact() {
                        true => String::new(),
                        false => format!(" {worst}"),
                    };
                    let more = match deciding {
                        Some((cell, _)) if cell.sessions > schedules.meta.sessions => {
                            format!(", {} sessions", cell.sessions)
                        }
                        _ => String::new(),
                    };
                    let cell = format!("{level} x {method}");
                    let note = match Agreement::of(race, verdict) {
                        Agreement::Hollow => {
                            hollow.push(named(cell, deciding));
                            " (hollow)"
                        }
                        Agreement::RaceOnly => {
                            race_only.push(format!(
                                "{cell}: none of {} schedules shows it",
                                schedules_of(schedules, level, method.number())
                            ));
                            " (race only)"
                        }
                        Agreement::Same | Agreement::Undecided => "",
                    };
                    match (note, more.is_empty()) {
                        ("", false) => format!("{race} / {verdict}{worst} ({})", &more[2..]),
                        _ => format!("{race} / {verdict}{worst}{note}"),
                    }
                }
                (Some(race), None) => format!("{race} / n/a"),
                (None, _) => "n/a".to_string(),
            }
        },
    );
    let mut out = format!(
        "race and schedules ({} schedules: two sessions from both starting states, three \
         where the race showed what two could not):\n\n{table}\n",
        schedules.meta.schedules_run
    );
    if !hollow.is_empty() {
        out.push_str(&format!(
            "hollow: the race was exact, but a schedule is not:\n{}",
            hollow
                .iter()
                .map(|line| format!("- {line}\n"))
                .collect::<String>()
        ));
    }
    if !race_only.is_empty() {
        out.push_str(&format!(
            "race only: no schedule of two or three sessions shows what the race did (it needs \
             more sessions, or the race saw something else):\n{}",
            race_only
                .iter()
                .map(|line| format!("- {line}\n"))
                .collect::<String>()
        ));
    }
    out
}

/// `cell`, with the schedule that decides it: its order, its starting row, what happened.
fn named(cell: String, deciding: Option<(&ScheduleCell, &ScheduleRecord)>) -> String {
    match deciding {
        Some((of, schedule)) => format!(
            "{cell}: {} (row {}): {}",
            order_text(schedule),
            of.start.as_str(),
            schedule.summary
        ),
        None => cell,
    }
}

/// How many schedules ran for `method` at `level`, over both starts and every number of
/// sessions.
fn schedules_of(schedules: &SchedulesResult, level: Isolation, method: u32) -> u64 {
    let cells = schedules.cells.iter();
    let cells = cells.filter(|c| c.isolation == level && c.method == method);
    cells.map(ScheduleCell::schedules_run).sum()
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
            swimlanes(schedule, cell.sessions, &title)
        ));
    }
    html
}
