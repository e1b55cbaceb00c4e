//! `counter matrix`: provision the database, run the cells with a progress bar, print the
//! tables, write the files. Ctrl-C stops it and still removes the throwaway cluster.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{MatrixConfig, MatrixResult};
use crate::cli::{Isolation, MatrixArgs};
use crate::db;
use crate::hammer::MAX_DEFAULT_CONCURRENCY;
use crate::methods;
use crate::report::{csv, html, matrix, svg};

pub async fn run(args: MatrixArgs) -> anyhow::Result<u8> {
    let config = config_from(&args)?;
    let started = Instant::now();
    let mut shutdown = Box::pin(crate::server::shutdown_signal());
    let mut provisioned = tokio::select! {
        provisioned = db::provision(&args.database) => provisioned?,
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
    write_outputs(&args, &result)?;
    print!("{}", matrix::full_report(&result, args.markdown));
    Ok(report_violations(&result))
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
        engine: args.database.engine,
    })
}

fn write_outputs(args: &MatrixArgs, result: &MatrixResult) -> anyhow::Result<()> {
    if let Some(path) = &args.csv {
        std::fs::write(path, csv::to_csv(&result.runs))
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::report(result))
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        // One table per retry setting, each its own SVG file when there are several.
        for &retry in &result.meta.retries {
            let title = format!(
                "{} {}{}",
                result.meta.engine,
                result.meta.server_version,
                if retry == 0 {
                    String::new()
                } else {
                    format!(", --retry {retry}")
                }
            );
            let target = if retry == 0 {
                path.clone()
            } else {
                path.with_extension(format!("retry{retry}.svg"))
            };
            std::fs::write(&target, svg::verdict_table(result, retry, &title))
                .with_context(|| format!("could not write {}", target.display()))?;
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(result)? + "\n";
        std::fs::write(path, text)
            .with_context(|| format!("could not write {}", path.display()))?;
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
