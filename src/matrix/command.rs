//! `counter matrix`: provision each engine's database, run the cells with a progress bar,
//! print the tables, write the files. Ctrl-C stops it and still removes the throwaway
//! databases.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::{FaultTarget, GaleraCluster, MatrixConfig};
use crate::engines::{self, Location, PoolerRequest, Throwaway};
use crate::hammer::Control;
use crate::methods::script;
use crate::model::results::{MatrixResult, RunRecord};
use crate::model::{Cluster, Engine, MethodId};
use crate::report::{csv, html, matrix, svg};

/// A matrix run as the command line asked for it.
#[derive(Debug, Clone)]
pub struct MatrixCommand {
    /// The cells to run (its `engine` is set for each engine in turn).
    pub config: MatrixConfig,
    /// The engines, in order, each with its configured database (None: a throwaway one).
    pub engines: Vec<(Engine, Option<Location>)>,
    pub outputs: Outputs,
    /// No progress bar.
    pub quiet: bool,
    /// A throwaway pooler to start in front of the throwaway cluster.
    pub pooler: Option<PoolerRequest>,
    /// A throwaway cluster to start instead of a single server.
    pub cluster: Option<Cluster>,
    /// Also explore every schedule of each cell (`--schedules`).
    pub schedules: bool,
}

/// Where the results go besides the printed tables.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub csv: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    /// Print GitHub Markdown tables instead of terminal tables.
    pub markdown: bool,
}

pub async fn run(command: MatrixCommand) -> anyhow::Result<u8> {
    let mut config = command.config.clone();
    let mut shutdown = Box::pin(crate::signals::shutdown_signal());
    let stop = Arc::new(Control::default());
    let mut results = Vec::new();
    for (engine, location) in command.engines.iter().cloned() {
        config.engine = engine;
        let started = Instant::now();
        let mut provisioned = tokio::select! {
            provisioned = engines::provision(engine, location, config.durability, command.pooler, command.cluster) => provisioned?,
            () = &mut shutdown => return Ok(130),
        };
        if provisioned.throwaway.is_some() {
            tracing::info!(
                "throwaway {} database {} ready in {:.0} ms",
                engine.product(),
                provisioned.display_url(),
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        let bar = progress_bar(command.quiet, config.cells());
        let mut fault_target = match (&mut provisioned.throwaway, &provisioned.location) {
            (Some(Throwaway::Ha(cluster)), _) => Some(FaultTarget::Ha(cluster)),
            (
                Some(Throwaway::Galera(cluster)),
                Location::Mariadb {
                    galera: Some(nodes),
                    ..
                },
            ) => Some(FaultTarget::Galera(GaleraCluster {
                cluster: Arc::clone(cluster),
                nodes: nodes.options.clone(),
            })),
            _ => None,
        };
        // The first Ctrl-C stops sending: the cells that ran are reported and written. A
        // second one quits at once.
        let run = super::run(
            &config,
            &provisioned.location,
            fault_target.as_mut(),
            |_| bar.inc(1),
            &stop,
        );
        let result = crate::signals::stop_on_first_signal(
            run,
            || stop.stop(),
            "the requests in flight finish, then the cells that ran are reported",
        )
        .await;
        bar.finish_and_clear();
        let mut result = match (result, command.schedules && !stop.stopped()) {
            (Some(Ok(result)), true) => {
                let explored = tokio::select! {
                    explored = super::schedules::with_schedules(result, &config, &provisioned) => Some(explored),
                    () = &mut shutdown => None,
                };
                match explored {
                    Some(explored) => Some(explored),
                    None => {
                        provisioned.shutdown();
                        eprintln!("interrupted");
                        return Ok(130);
                    }
                }
            }
            (result, _) => result,
        };
        provisioned.shutdown();
        let Some(result) = result.take() else {
            eprintln!("interrupted");
            return Ok(130);
        };
        let mut result = result?;
        result.meta.wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        results.push(result);
        if stop.stopped() {
            break;
        }
    }
    if let Some(refused) = refused_everywhere(&config, &results) {
        anyhow::bail!("{refused}");
    }
    let outputs = &command.outputs;
    for result in &results {
        if results.len() > 1 {
            println!("== {} {}\n", result.meta.engine, result.meta.server_version);
        }
        print!("{}", matrix::full_report(result, outputs.markdown));
    }
    if results.len() > 1 {
        println!(
            "== side by side\n\n{}",
            matrix::comparison_table(&results, outputs.markdown)
        );
    }
    // After the report is on the terminal: a file that cannot be written loses nothing.
    write_outputs(outputs, &results)
        .map_err(|err| anyhow::anyhow!("{err:#}; the report is above"))?;
    if stop.stopped() {
        eprintln!(
            "INTERRUPTED: {} cell run(s) finished before Ctrl-C; the tables and files hold them",
            results.iter().map(|r| r.runs.len()).sum::<usize>()
        );
        return Ok(130);
    }
    Ok(results.iter().map(report_violations).max().unwrap_or(0))
}

/// The reason the first engine gave, when every engine refused the custom method's script:
/// then the script, not an engine, is what is wrong.
fn refused_everywhere(config: &MatrixConfig, results: &[MatrixResult]) -> Option<String> {
    config.script.as_ref()?;
    let refusal = |result: &MatrixResult| {
        let gaps = result.not_applicable.iter();
        gaps.filter(|gap| gap.method == Some(MethodId::Custom.number()))
            .find_map(|gap| gap.reason.strip_prefix(script::REFUSED).map(str::to_string))
    };
    let refusals: Vec<Option<String>> = results.iter().map(refusal).collect();
    if refusals.iter().all(Option::is_some) {
        return refusals.into_iter().flatten().next();
    }
    None
}

/// Says on stderr where acknowledged increments vanished or were counted twice (loudly where
/// that is a bug; as the expected result for the unlocked control, and for the in-process lock
/// with several servers), and where the harness left a transaction open; any of these makes
/// the exit code 1.
fn report_violations(result: &MatrixResult) -> u8 {
    let mut code = 0;
    for run in result.invariant_violations() {
        let level = run.isolation.map_or("?", |level| level.sql_name());
        let facts = format!(
            "{level} x method {} ({}), trial {}: {} acknowledged, {} unknown, counter changed by {} ({})",
            run.method,
            run.method_name,
            run.trial,
            run.acknowledged,
            run.unknown,
            crate::report::or_unknown(run.change),
            run.outcome
        );
        let expected = crate::model::MethodId::from_number(u64::from(run.method))
            .is_some_and(|method| method.may_lose_updates(run.replicas));
        if let Some(fault) = &run.fault {
            eprintln!(
                "acknowledged increments lost to the fault ({}): {facts}",
                fault.fault
            );
        } else if expected {
            eprintln!("lost updates, the expected result of this method: {facts}");
        } else {
            eprintln!("INVARIANT BROKEN: {facts}");
        }
        code = 1;
    }
    for problem in &result.problems {
        eprintln!("HARNESS PROBLEM: {problem}");
        code = 1;
    }
    // A cell with no verdict is no success either. A run with a fault is asked another
    // question (was anything acknowledged lost?): requests unsent during the outage are part
    // of it.
    let no_verdict = |run: &&RunRecord| run.outcome.is_no_verdict() && run.fault.is_none();
    for run in result.runs.iter().filter(no_verdict) {
        let level = run.isolation.map_or("?", |level| level.sql_name());
        eprintln!(
            "NO VERDICT: {level} x method {} ({}), trial {}: {}",
            run.method,
            run.method_name,
            run.trial,
            crate::report::table::explain(run)
        );
        code = 1;
    }
    code
}

/// The files: one CSV and one HTML page over every engine; one SVG per engine and retry
/// setting; JSON as the result object, or an array of them when several engines ran.
fn write_outputs(args: &Outputs, results: &[MatrixResult]) -> anyhow::Result<()> {
    let write = |path: &std::path::Path, text: String| {
        crate::report::files::write(path, &text).map_err(anyhow::Error::msg)
    };
    if let Some(path) = &args.csv {
        let runs: Vec<_> = results
            .iter()
            .flat_map(|r| r.runs.iter().cloned())
            .collect();
        write(path, csv::to_csv(&runs))?;
    }
    if let Some(path) = &args.html {
        write(path, html::report(results))?;
    }
    if let Some(path) = &args.svg {
        for (index, result) in results.iter().enumerate() {
            for &retry in &result.meta.retries {
                let mut title = format!("{} {}", result.meta.engine, result.meta.server_version);
                let mut suffix = String::new();
                if index > 0 {
                    suffix.push_str(&format!("{}.", result.meta.engine));
                }
                if retry > 0 {
                    title.push_str(&format!(", --retry {retry}"));
                    suffix.push_str(&format!("retry{retry}."));
                }
                let target = if suffix.is_empty() {
                    path.clone()
                } else {
                    path.with_extension(format!("{suffix}svg"))
                };
                write(&target, svg::verdict_table(result, retry, &title))?;
                // Beside it, the cost of correctness: throughput against outcome.
                let cost = target.with_extension("cost.svg");
                write(&cost, crate::report::cost::chart(result, retry, &title))?;
            }
        }
    }
    if let Some(path) = &args.json {
        let text = match results {
            [single] => serde_json::to_string_pretty(single)?,
            many => serde_json::to_string_pretty(many)?,
        };
        write(path, text + "\n")?;
    }
    Ok(())
}

/// A bar over the cells, on stderr, only for a person watching a terminal.
fn progress_bar(quiet: bool, cells: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(cells);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} cells {elapsed}") {
        bar.set_style(style);
    }
    bar
}
