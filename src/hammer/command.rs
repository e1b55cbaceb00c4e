//! `counter hammer`: a progress bar, Ctrl-C for a partial summary, the summary in the chosen
//! format, and the exit code (0 exact, 1 any other outcome, 2 usage or connection problems,
//! 130 interrupted).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::{Control, HammerConfig};
use crate::model::Outcome;
use crate::report::{csv, table};

/// How the summary is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// A hammer run as the command line asked for it.
#[derive(Debug, Clone)]
pub struct HammerCommand {
    pub config: HammerConfig,
    pub format: Format,
    /// The summary goes to this file instead of stdout.
    pub output: Option<PathBuf>,
    /// No progress bar.
    pub quiet: bool,
}

pub async fn run(command: HammerCommand) -> anyhow::Result<u8> {
    let config = &command.config;
    let control = Arc::new(Control::default());
    let progress = progress_bar(command.quiet, config.requests, control.clone());
    let run = super::run(config, control.clone());
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
    let record = run.record(1);
    let text = match command.format {
        Format::Table => table::hammer_summary(&record),
        Format::Json => serde_json::to_string_pretty(&record)? + "\n",
        Format::Csv => csv::to_csv(std::slice::from_ref(&record)),
    };
    match &command.output {
        Some(path) => {
            if let Err(err) = crate::report::files::write(path, &text) {
                // The load is done and the counter changed: the figures must not be lost.
                print!("{text}");
                anyhow::bail!("{err}; the summary is above");
            }
        }
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

/// A bar on stderr, only for a person watching a terminal.
fn progress_bar(quiet: bool, total: u64, control: Arc<Control>) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
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
