//! An application's cells in the forms `counter schedules` and `counter explain` write them:
//! JSON (every schedule), CSV (one row per level), a Markdown summary, the PostgreSQL
//! isolation-tester spec (the application's own SQL: its race becomes a regression test in the
//! field's own format), terminal scripts for psql, and swimlane SVGs. One writer per form,
//! shared with the methods' (`report::`); only the result's description is the application's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::AppConfig;
use crate::model::machine::machine_description;
use crate::model::schedule::StartState;
use crate::model::schedule_results::{
    ScheduleCell, ScheduleRecord, SchedulesMeta, SchedulesResult,
};
use crate::model::{Engine, Isolation, IsolationScope};
use crate::report::replay::{Origin, Replay};
use crate::report::schedules::{classes_text, to_csv};
use crate::report::{files, swimlane};

/// Where each form goes (None: not asked for).
#[derive(Debug, Clone, Default)]
pub struct AppOutputs {
    pub json: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub spec: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    pub psql: bool,
    pub markdown: bool,
}

/// The levels' cells as a schedules result: method 0 ("application"), the request and the
/// SQL that starts and reads each schedule in the settings.
pub(super) fn result_of(
    config: &AppConfig,
    cells: Vec<ScheduleCell>,
    server_version: String,
    wall_ms: f64,
) -> SchedulesResult {
    let settings = BTreeMap::from([
        (
            "request".to_string(),
            format!(
                "{} http://{}{}",
                config.request.method, config.request.endpoint.authority, config.request.path
            ),
        ),
        (
            "before".to_string(),
            config.before.clone().unwrap_or_default(),
        ),
        ("value".to_string(), config.value.clone()),
    ]);
    SchedulesResult {
        meta: SchedulesMeta {
            engine: Engine::Postgres.name().to_string(),
            server_version,
            levels: cells.iter().map(|cell| cell.isolation).collect(),
            methods: vec![0],
            starts: vec![StartState::Exists],
            sessions: config.sessions as u32,
            max_switches: config.max_switches,
            max_schedules: config.max_schedules,
            isolation_scope: IsolationScope::Session,
            symmetry: true,
            lock_timeout_ms: config.lock_timeout.as_millis() as u64,
            deadlock_timeout_ms: None,
            settings,
            machine: machine_description(),
            method_script: None,
            schedules_run: cells.iter().map(ScheduleCell::schedules_run).sum(),
            wall_ms,
            interrupted: false,
        },
        cells,
        not_applicable: Vec::new(),
    }
}

/// Writes the forms asked for; the terminal scripts are returned to be printed.
pub(super) fn write(
    config: &AppConfig,
    levels: &[Option<Isolation>],
    result: &SchedulesResult,
) -> anyhow::Result<String> {
    let outputs = &config.outputs;
    let write = |path: &Path, text: String| files::write(path, &text).map_err(anyhow::Error::msg);
    if let Some(path) = &outputs.json {
        write(path, serde_json::to_string_pretty(result)?)?;
    }
    if let Some(path) = &outputs.csv {
        write(path, to_csv(std::slice::from_ref(result)))?;
    }
    let mut printed = String::new();
    for (&level, cell) in levels.iter().zip(&result.cells) {
        let replay = Replay {
            engine: Engine::Postgres,
            cell,
            scope: IsolationScope::Session,
            sessions: result.meta.sessions,
            origin: Origin::Application {
                before: config.before.as_deref(),
                level,
            },
        };
        // The shortest schedule of each class, the worst first.
        let chosen: Vec<&ScheduleRecord> = cell
            .classes
            .keys()
            .rev()
            .filter_map(|&class| cell.shortest(class))
            .collect();
        let several = levels.len() > 1;
        if let Some(path) = &outputs.spec {
            write(
                &per_level(path, level, several),
                replay.isolation_spec(&chosen),
            )?;
        }
        if let Some(path) = &outputs.svg
            && let Some(worst) = chosen.first()
        {
            let title = format!(
                "{} at {}: {}",
                config.request.path,
                level_name(level),
                worst.class
            );
            write(
                &per_level(path, level, several),
                swimlane::swimlanes(worst, cell.sessions, &title),
            )?;
        }
        if outputs.psql {
            for schedule in &chosen {
                printed.push_str(&format!(
                    "\n== {} at {} as terminal scripts ({} windows)\n\n{}",
                    schedule.class,
                    level_name(level),
                    cell.sessions,
                    replay.terminal_scripts(schedule)
                ));
            }
        }
    }
    Ok(printed)
}

/// One line per level, as a Markdown table (with the race beside, when one ran).
pub(super) fn markdown(levels: &[Option<Isolation>], cells: &[ScheduleCell]) -> String {
    let raced = cells.iter().any(|cell| cell.race.is_some());
    let mut out = match raced {
        true => "| level | schedules | classes | race |\n|---|---|---|---|\n",
        false => "| level | schedules | classes |\n|---|---|---|\n",
    }
    .to_string();
    for (&level, cell) in levels.iter().zip(cells) {
        let race = match (&cell.race, raced) {
            (Some(race), _) => format!(" {} {} |", race.verdict, race.outcome),
            (None, true) => " |".to_string(),
            (None, false) => String::new(),
        };
        out.push_str(&format!(
            "| {} | {} {} ({} schedules) | {} |{race}\n",
            level_name(level),
            cell.verdict,
            cell.worst,
            cell.schedules_run(),
            classes_text(cell),
        ));
    }
    out
}

pub(super) fn level_name(level: Option<Isolation>) -> &'static str {
    level.map_or("the application's own level", |l| l.sql_name())
}

/// `path` itself for one level; `name-read-committed.ext` for each of several.
fn per_level(path: &Path, level: Option<Isolation>, several: bool) -> PathBuf {
    if !several {
        return path.to_path_buf();
    }
    let slug = level.map_or("app".to_string(), |l| l.sql_name().replace(' ', "-"));
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("app");
    let name = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("{stem}-{slug}.{ext}"),
        None => format!("{stem}-{slug}"),
    };
    path.with_file_name(name)
}
