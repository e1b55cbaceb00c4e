//! `counter explain`: one cell explored, and for each class of schedule it has, the shortest
//! schedule (fewest switches between the sessions, then the earliest explored) as a
//! transcript; optionally as an isolation-tester spec, terminal scripts and a swimlane SVG.

use std::path::PathBuf;

use super::SchedulesConfig;
use crate::engines::{self, Durability, Location};
use crate::model::schedule::ScheduleClass;
use crate::model::schedule_results::{ScheduleCell, ScheduleRecord, SchedulesResult};
use crate::model::{Cluster, Engine};
use crate::report::replay::{Origin, Replay};
use crate::report::{schedules as tables, swimlane, transcript};

/// Which schedules to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// The shortest schedule of every class the cell has.
    EveryClass,
    /// The shortest of one class.
    Class(ScheduleClass),
    /// Every schedule.
    All,
}

/// An explanation as the command line asked for it.
#[derive(Debug, Clone)]
pub struct ExplainCommand {
    /// One level, one method, one starting state.
    pub config: SchedulesConfig,
    pub location: Option<Location>,
    pub throwaway_deadlock_timeout: std::time::Duration,
    /// A throwaway cluster to explore on instead of a single server.
    pub cluster: Option<Cluster>,
    pub shown: Shown,
    pub spec: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    pub psql: bool,
}

pub async fn run(command: ExplainCommand) -> anyhow::Result<u8> {
    let mut config = command.config.clone();
    if command.location.is_none() && config.engine == Engine::Postgres {
        config.deadlock_timeout = Some(command.throwaway_deadlock_timeout);
    }
    if command.spec.is_some() && !matches!(config.engine, Engine::Postgres) {
        anyhow::bail!(
            "--spec writes PostgreSQL's isolation-tester format; this cell runs on {} (--psql \
             writes scripts for its own client)",
            config.engine.name()
        );
    }
    let location = command.location.clone();
    let mut provisioned = engines::provision(
        config.engine,
        location,
        Durability::NoFsync,
        None,
        command.cluster,
    )
    .await?;
    let explored = super::run(&config, &provisioned.location, |_| {}).await;
    provisioned.shutdown();
    let result = explored?;
    let Some(cell) = result.cells.first() else {
        let reason = result.not_applicable.first().map(|gap| gap.reason.clone());
        anyhow::bail!(
            "nothing to explain: {}",
            reason.unwrap_or_else(|| "the cell has no schedule".into())
        );
    };
    let chosen = chosen(cell, command.shown)?;
    print!("{}", explanation(&result, cell, &chosen));
    let replay = Replay {
        engine: config.engine,
        cell,
        scope: result.meta.isolation_scope,
        sessions: result.meta.sessions,
        origin: Origin::Methods,
    };
    let write = |path: &std::path::Path, text: String| {
        crate::report::files::write(path, &text).map_err(anyhow::Error::msg)
    };
    if let Some(path) = &command.spec {
        write(path, replay.isolation_spec(&chosen))?;
    }
    if command.psql {
        for schedule in &chosen {
            println!(
                "\n== {} as terminal scripts ({} windows)\n",
                schedule.class, result.meta.sessions
            );
            print!("{}", replay.terminal_scripts(schedule));
        }
    }
    if let Some(path) = &command.svg {
        for (index, schedule) in chosen.iter().enumerate() {
            let target = match index {
                0 => path.clone(),
                n => path.with_extension(format!("{n}.svg")),
            };
            let title = title(&result, cell);
            write(
                &target,
                swimlane::swimlanes(schedule, result.meta.sessions, &title),
            )?;
        }
    }
    Ok(0)
}

/// The schedules to show, shortest first within each class; an error when a class asked for
/// has none.
fn chosen(cell: &ScheduleCell, shown: Shown) -> anyhow::Result<Vec<&ScheduleRecord>> {
    Ok(match shown {
        Shown::All => cell.schedules.iter().collect(),
        Shown::EveryClass => {
            let classes = cell.classes.keys().rev();
            classes.filter_map(|&class| cell.shortest(class)).collect()
        }
        Shown::Class(class) => match cell.shortest(class) {
            Some(schedule) => vec![schedule],
            None => anyhow::bail!(
                "no schedule of this cell is {class} (its {} schedules: {}){}",
                cell.schedules_run(),
                tables::classes_text(cell),
                match class {
                    ScheduleClass::Deadlock =>
                        "; some deadlocks need three sessions: try --sessions 3",
                    _ => "",
                }
            ),
        },
    })
}

fn title(result: &SchedulesResult, cell: &ScheduleCell) -> String {
    format!(
        "method {} ({}) at {}, row {}, on {} {}",
        cell.method,
        cell.method_name,
        cell.isolation.sql_name(),
        cell.start.as_str(),
        result.meta.engine,
        result.meta.server_version
    )
}

/// The printed explanation: the cell, then each chosen schedule as a transcript.
pub fn explanation(
    result: &SchedulesResult,
    cell: &ScheduleCell,
    chosen: &[&ScheduleRecord],
) -> String {
    let mut out = format!(
        "{}: {} schedules of {} sessions, {} ({})\n",
        title(result, cell),
        cell.schedules_run(),
        result.meta.sessions,
        tables::symbol(cell),
        tables::classes_text(cell)
    );
    for schedule in chosen {
        let count = cell.classes.get(&schedule.class).copied().unwrap_or(0);
        out.push_str(&format!(
            "\n== {} ({count} of {} schedules); the shortest: {}\n\n",
            schedule.class,
            cell.schedules_run(),
            tables::order_text(schedule)
        ));
        out.push_str(&transcript::transcript(schedule, result.meta.sessions));
    }
    out
}
