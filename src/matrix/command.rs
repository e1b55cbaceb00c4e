//! `counter matrix`: provision the database, run the cells with a progress bar, print the
//! tables, write the files. Ctrl-C stops it and still removes the throwaway cluster.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{MatrixConfig, MatrixResult};
use crate::cli::{EngineChoice, Isolation, MatrixArgs};
use crate::db;
use crate::engine::Engine;
use crate::hammer::MAX_DEFAULT_CONCURRENCY;
use crate::methods;
use crate::report::{csv, html, matrix, svg};

pub async fn run(args: MatrixArgs) -> anyhow::Result<u8> {
    let engines = engines_from(&args)?;
    let mut config = config_from(&args)?;
    let mut shutdown = Box::pin(crate::server::shutdown_signal());
    let mut results = Vec::new();
    for engine in engines {
        config.engine = engine;
        let started = Instant::now();
        let mut provisioned = tokio::select! {
            provisioned = db::provision(engine, &args.database) => provisioned?,
            () = &mut shutdown => return Ok(130),
        };
        if provisioned.cluster.is_some() {
            tracing::info!(
                "throwaway PostgreSQL cluster {} ready in {:.0} ms",
                provisioned.display_url(),
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        let bar = progress_bar(args.quiet, config.cells());
        let result = tokio::select! {
            result = super::run(&config, &provisioned.location, |_| bar.inc(1)) => Some(result),
            () = &mut shutdown => None,
        };
        bar.finish_and_clear();
        provisioned.shutdown();
        let Some(result) = result else {
            eprintln!("interrupted");
            return Ok(130);
        };
        let mut result = result?;
        result.meta.wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        results.push(result);
    }
    write_outputs(&args, &results)?;
    for result in &results {
        if results.len() > 1 {
            println!("== {} {}\n", result.meta.engine, result.meta.server_version);
        }
        print!("{}", matrix::full_report(result, args.markdown));
    }
    if results.len() > 1 {
        println!(
            "== side by side\n\n{}",
            matrix::comparison_table(&results, args.markdown)
        );
    }
    Ok(results.iter().map(report_violations).max().unwrap_or(0))
}

/// The engines to run, in order, without repeats; `all` means every engine available here.
fn engines_from(args: &MatrixArgs) -> anyhow::Result<Vec<Engine>> {
    let mut engines = Vec::new();
    for choice in &args.engines {
        let wanted: &[Engine] = match choice {
            EngineChoice::Postgres => &[Engine::Postgres],
            EngineChoice::Sqlite => &[Engine::Sqlite],
            EngineChoice::Mariadb => &[Engine::Mariadb],
            EngineChoice::Cockroach => &[Engine::Cockroach],
            EngineChoice::Yugabyte => &[Engine::Yugabyte],
            EngineChoice::All => &[Engine::Postgres, Engine::Mariadb, Engine::Sqlite],
        };
        for &engine in wanted {
            let available = match engine {
                Engine::Postgres => db::postgres_available(&args.database),
                Engine::Mariadb => db::mariadb_available(&args.database),
                Engine::Sqlite => true,
                // Never part of `all` (they are only ever at a URL given for them).
                Engine::Cockroach | Engine::Yugabyte => true,
            };
            if *choice == EngineChoice::All && !available {
                eprintln!(
                    "note: {} is not available here (no server binaries); skipped",
                    engine.name()
                );
                continue;
            }
            if !engines.contains(&engine) {
                engines.push(engine);
            }
        }
    }
    Ok(engines)
}

/// Says loudly, on stderr, where acknowledged increments vanished or were counted twice, and
/// where the harness left a transaction open; any of these makes the exit code 1.
fn report_violations(result: &MatrixResult) -> u8 {
    let mut code = 0;
    for run in result.invariant_violations() {
        eprintln!(
            "INVARIANT BROKEN: {} x method {} ({}), trial {}: {} acknowledged, {} unknown, counter changed by {} ({})",
            run.isolation,
            run.method,
            run.method_name,
            run.trial,
            run.acknowledged,
            run.unknown,
            run.change,
            run.outcome
        );
        code = 1;
    }
    for problem in &result.problems {
        eprintln!("HARNESS PROBLEM: {problem}");
        code = 1;
    }
    code
}

fn config_from(args: &MatrixArgs) -> anyhow::Result<MatrixConfig> {
    if args.requests == 0 {
        anyhow::bail!("--requests must be at least 1");
    }
    if args.concurrency == Some(0) {
        anyhow::bail!("--concurrency must be at least 1");
    }
    let mut levels = if args.levels.is_empty() {
        Isolation::ALL.to_vec()
    } else {
        args.levels.clone()
    };
    levels.dedup();
    let mut methods = if args.methods.is_empty() {
        methods::ORIGINAL.to_vec()
    } else {
        args.methods.clone()
    };
    methods.dedup();
    Ok(MatrixConfig {
        levels,
        methods,
        requests: args.requests,
        concurrency: args
            .concurrency
            .unwrap_or(args.requests.min(MAX_DEFAULT_CONCURRENCY)),
        pool_size: args.pool_size,
        trials: args.trials,
        replicas: args.replicas,
        retry: args.behaviour.retry,
        think_ms: args.behaviour.think_ms,
        engine: Engine::Postgres,
    })
}

/// The files: one CSV and one HTML page over every engine; one SVG per engine and retry
/// setting; JSON as the result object, or an array of them when several engines ran.
fn write_outputs(args: &MatrixArgs, results: &[MatrixResult]) -> anyhow::Result<()> {
    let write = |path: &std::path::Path, text: String| {
        std::fs::write(path, text).with_context(|| format!("could not write {}", path.display()))
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
