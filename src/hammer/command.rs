//! `counter hammer`: flags -> config, a progress bar, Ctrl-C for a partial summary, the
//! summary in the chosen format, and the exit code (0 exact, 1 any other outcome, 2 usage or
//! connection problems, 130 interrupted).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Control, HammerConfig, HammerError, MAX_DEFAULT_CONCURRENCY, Outcome, Target};
use crate::cli::{Format, HammerArgs};
use crate::report::{RunContext, RunRecord, csv, table};

pub async fn run(args: HammerArgs) -> anyhow::Result<u8> {
    let config = config_from(&args)?;
    let control = Arc::new(Control::default());
    let progress = progress_bar(&args, config.requests, control.clone());
    let run = super::run(&config, control.clone());
    tokio::pin!(run);
    let result = tokio::select! {
        result = &mut run => result,
        _ = tokio::signal::ctrl_c() => {
            control.stop();
            eprintln!("interrupted: waiting for the requests in flight, then summarising");
            run.await
        }
    };
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let run = result?;
    let record = RunRecord::from_run(&run, &RunContext::default());
    let text = match args.format {
        Format::Table => table::hammer_summary(&record),
        Format::Json => serde_json::to_string_pretty(&record)? + "\n",
        Format::Csv => csv::to_csv(std::slice::from_ref(&record)),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("could not write {}", path.display()))?,
        None => print!("{text}"),
    }
    // With --path the load did not go to the increment endpoint: there is nothing to judge.
    if record.outcome.violates_invariant() && config.path.is_none() {
        eprintln!(
            "INVARIANT BROKEN (acknowledged <= change <= acknowledged + unknown): {}",
            table::explain(&record)
        );
    }
    Ok(match (run.interrupted, run.outcome) {
        (true, _) => 130,
        (false, Outcome::Exact) => 0,
        (false, _) => 1,
    })
}

fn config_from(args: &HammerArgs) -> Result<HammerConfig, HammerError> {
    let targets = args
        .domain
        .iter()
        .map(|d| Target::parse(d))
        .collect::<Result<Vec<_>, _>>()?;
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 86_400.0) {
        return Err(HammerError::Usage(
            "--timeout must be a number of seconds between 0 and 86400".into(),
        ));
    }
    let mut config = HammerConfig::new(targets, args.method, args.requests);
    config.concurrency = args
        .concurrency
        .unwrap_or(args.requests.min(MAX_DEFAULT_CONCURRENCY));
    config.reset = args.reset;
    config.verb = args.http_method;
    config.path = args.path.clone();
    config.timeout = Duration::from_secs_f64(args.timeout);
    Ok(config)
}

/// A bar on stderr, only for a person watching a terminal.
fn progress_bar(args: &HammerArgs, total: u64, control: Arc<Control>) -> Option<ProgressBar> {
    if args.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} requests {per_sec} {eta}")
    {
        bar.set_style(style);
    }
    let ticker = bar.clone();
    tokio::spawn(async move {
        while !ticker.is_finished() {
            ticker.set_position(control.completed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Some(bar)
}
