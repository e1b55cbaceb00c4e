//! `counter schedules` from the command line: provision each engine's database (a throwaway
//! one unless configured), explore, print the tables, write the files. Ctrl-C stops it and
//! still removes the throwaway databases.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::SchedulesConfig;
use crate::engines::{self, Durability, Location};
use crate::model::schedule_results::SchedulesResult;
use crate::model::{Cluster, Engine};
use crate::report::schedules as report;

/// An exploration as the command line asked for it.
#[derive(Debug, Clone)]
pub struct SchedulesCommand {
    pub config: SchedulesConfig,
    pub engines: Vec<(Engine, Option<Location>)>,
    /// PostgreSQL's deadlock_timeout on a throwaway cluster (a configured database keeps
    /// its own: a superuser setting).
    pub throwaway_deadlock_timeout: std::time::Duration,
    /// A throwaway cluster to explore on instead of a single server.
    pub cluster: Option<Cluster>,
    pub outputs: SchedulesOutputs,
    pub quiet: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SchedulesOutputs {
    pub json: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub markdown: bool,
}

pub async fn run(command: SchedulesCommand) -> anyhow::Result<u8> {
    let mut results = Vec::new();
    let mut shutdown = Box::pin(crate::signals::shutdown_signal());
    for (engine, location) in command.engines.iter().cloned() {
        let mut config = command.config.clone();
        config.engine = engine;
        let throwaway = location.is_none();
        if throwaway && matches!(engine, Engine::Postgres) {
            config.deadlock_timeout = Some(command.throwaway_deadlock_timeout);
        }
        let mut provisioned = tokio::select! {
            provisioned = engines::provision(engine, location, Durability::NoFsync, None, command.cluster) => provisioned?,
            () = &mut shutdown => return Ok(130),
        };
        let quiet = command.quiet;
        let progress = move |cell: &crate::model::schedule_results::ScheduleCell| {
            if !quiet {
                eprintln!(
                    "{} {} x {} ({}): {} schedules, {}",
                    engine.name(),
                    cell.isolation.sql_name(),
                    cell.method,
                    cell.start.as_str(),
                    cell.schedules_run(),
                    report::symbol(cell)
                );
            }
        };
        // The first Ctrl-C lets the schedule under way finish and keeps the cells explored; a
        // second one quits at once.
        let result = crate::signals::stop_on_first_signal(
            super::run(&config, &provisioned.location, progress),
            || config.stop.store(true, Ordering::Relaxed),
            "the schedule under way finishes, then the cells explored are reported",
        )
        .await;
        provisioned.shutdown();
        let Some(result) = result else {
            eprintln!("interrupted");
            return Ok(130);
        };
        results.push(result?);
        if config.stop.load(Ordering::Relaxed) {
            break;
        }
    }
    // The report first: a file that cannot be written then loses nothing.
    for result in &results {
        print!("{}", report::full_report(result, command.outputs.markdown));
    }
    write_outputs(&command.outputs, &results)
        .map_err(|err| anyhow::anyhow!("{err:#}; the report is above"))?;
    if results.iter().any(|result| result.meta.interrupted) {
        eprintln!("INTERRUPTED: the cells explored before Ctrl-C are above and in the files");
        return Ok(130);
    }
    Ok(results.iter().map(report_violations).max().unwrap_or(0))
}

/// Says on stderr which cells lost or doubled increments in some schedule; exit code 1 then,
/// as for the matrix.
fn report_violations(result: &SchedulesResult) -> u8 {
    let mut code = 0;
    for cell in report::violations(result) {
        eprintln!(
            "lost or doubled increments in some schedule: {} {} x method {} ({}), row {}",
            result.meta.engine,
            cell.isolation.sql_name(),
            cell.method,
            cell.method_name,
            cell.start.as_str()
        );
        code = 1;
    }
    let diverged = result.cells.iter().any(|cell| !cell.diverged.is_empty());
    if diverged {
        code = 1;
    }
    code
}

fn write_outputs(outputs: &SchedulesOutputs, results: &[SchedulesResult]) -> anyhow::Result<()> {
    let write = |path: &std::path::Path, text: String| {
        crate::report::files::write(path, &text).map_err(anyhow::Error::msg)
    };
    if let Some(path) = &outputs.csv {
        write(path, report::to_csv(results))?;
    }
    if let Some(path) = &outputs.json {
        let text = match results {
            [single] => serde_json::to_string_pretty(single)?,
            many => serde_json::to_string_pretty(many)?,
        };
        write(path, text + "\n")?;
    }
    Ok(())
}
