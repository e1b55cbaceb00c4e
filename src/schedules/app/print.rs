//! What `counter app` prints: per level, the verdict, the classes and the shortest schedule
//! of each class as a transcript; at the end, one line per level with the race beside the
//! schedules when one ran.

use super::race::Race;
use super::{AppCell, AppConfig, export};
use crate::model::Isolation;
use crate::model::schedule_results::{Agreement, ScheduleCell};
use crate::report::schedules::{classes_text, order_text};
use crate::report::transcript::transcript;

/// One line per level: its verdict and classes.
pub(super) fn summary(
    config: &AppConfig,
    levels: &[Option<Isolation>],
    cells: &[ScheduleCell],
    races: &[Option<Race>],
) -> String {
    let mut out = format!(
        "{} {}{}:\n",
        config.request.method, config.request.endpoint.authority, config.request.path
    );
    for ((level, cell), race) in levels.iter().zip(cells).zip(races) {
        out.push_str(&format!(
            "  {:<18} {} {} ({}; {} schedules in {:.1} s)\n",
            level.map_or("app's own", |l| l.sql_name()),
            cell.verdict,
            cell.worst,
            classes_text(cell),
            cell.schedules_run(),
            cell.elapsed_ms / 1000.0
        ));
        if let Some(race) = race {
            out.push_str(&format!("  {:<18} race: {}\n", "", race.words()));
            let agreement = match Agreement::of(race.verdict(), cell.verdict) {
                Agreement::Hollow => Some(
                    "the race was lucky: a schedule above shows what it can do (the \
                     transcripts)",
                ),
                Agreement::RaceOnly => Some(
                    "the race saw what no schedule of these requests shows: more requests at \
                     once (--sessions 3), or something the schedules do not model",
                ),
                Agreement::Same | Agreement::Undecided => None,
            };
            if let Some(agreement) = agreement {
                out.push_str(&format!("  {:<18} {agreement}\n", ""));
            }
        }
    }
    out
}

/// The verdict, the classes, and the shortest schedule of each class as a transcript.
pub(super) fn report(config: &AppConfig, level: Option<Isolation>, app: &AppCell) -> String {
    let cell = &app.cell;
    let level = export::level_name(level);
    let mut out = format!(
        "{} {}{} through the proxy at {level}: {} schedules of {} requests, {} {} ({})\n",
        config.request.method,
        config.request.endpoint.authority,
        config.request.path,
        cell.schedules_run(),
        cell.sessions,
        cell.verdict,
        cell.worst,
        classes_text(cell)
    );
    let mut kept = cell.schedules.clone();
    kept.sort_by_key(|schedule| std::cmp::Reverse(schedule.class));
    for schedule in &kept {
        out.push_str(&format!(
            "\n== {} ({} of {} schedules); the shortest: {}\n\n{}",
            schedule.class,
            cell.classes.get(&schedule.class).copied().unwrap_or(0),
            cell.schedules_run(),
            order_text(schedule),
            transcript(schedule, cell.sessions)
        ));
    }
    for diverged in &cell.diverged {
        out.push_str(&format!("\nnot explored: {diverged}\n"));
    }
    if let Some(write) = &app.unsplit {
        out.push_str(&format!(
            "\nnot a proof: the application writes in autocommit ({}), a statement the proxy \
             cannot run in a transaction of its own, so it is explored as one step (its commit \
             cannot interleave); a schedule that breaks the invariant is still a \
             counterexample\n",
            write.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    out
}
