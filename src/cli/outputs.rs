//! The forms a run's schedules can be written in, as flags shared by `counter schedules`,
//! `counter explain` and `counter app`: one declaration and one up-front check of the files
//! (a path that cannot be written is said before anything runs, not after an exploration).

use std::path::PathBuf;

use clap::Args;

/// Tables: every schedule as JSON, a row per cell as CSV, the tables as Markdown.
#[derive(Debug, Clone, Default, Args)]
pub struct TableOutputs {
    /// Write every schedule as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write one CSV row per cell to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,

    /// Print the tables as GitHub Markdown.
    #[arg(long)]
    pub markdown: bool,
}

/// Schedules a reader can replay without counter.
#[derive(Debug, Clone, Default, Args)]
pub struct ReplayOutputs {
    /// Write the schedules shown as a PostgreSQL isolation-tester spec to this file.
    #[arg(long)]
    pub spec: Option<PathBuf>,

    /// Print each schedule shown as terminal scripts, one per session, to paste into psql (or
    /// mariadb) windows in the order given.
    #[arg(long)]
    pub psql: bool,

    /// Draw the first schedule shown as swimlanes (SVG) in this file (the others beside it).
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

impl TableOutputs {
    /// Whether each file can be written (checked before anything runs).
    pub fn check(&self) -> anyhow::Result<()> {
        let outputs = [
            ("--json", self.json.as_deref()),
            ("--csv", self.csv.as_deref()),
        ];
        crate::report::files::check_all(outputs).map_err(anyhow::Error::msg)
    }
}

impl ReplayOutputs {
    /// Whether each file can be written (checked before anything runs).
    pub fn check(&self) -> anyhow::Result<()> {
        let outputs = [
            ("--spec", self.spec.as_deref()),
            ("--svg", self.svg.as_deref()),
        ];
        crate::report::files::check_all(outputs).map_err(anyhow::Error::msg)
    }
}
