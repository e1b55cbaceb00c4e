//! `counter schedules`: its flags (matrix's where they apply) and the command they make.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::configure::{chosen_engines, distinct};
use super::parse::{
    parse_engine_option, parse_engines, parse_isolation, parse_method_choice, parse_seconds,
};
use super::{EngineChoice, MethodChoice};
use crate::engines::EngineOption;
use crate::methods::script::Script;
use crate::model::method::{ORIGINAL, REGISTRY};
use crate::model::schedule::StartState;
use crate::model::{Engine, Isolation, IsolationScope, MethodId};
use crate::schedules::SchedulesConfig;
use crate::schedules::command::{SchedulesCommand, SchedulesOutputs};

pub(super) use crate::schedules::THROWAWAY_DEADLOCK_TIMEOUT;

/// Which starting states of the row to explore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RowChoice {
    Exists,
    Absent,
    Both,
}

#[derive(Debug, Clone, Args)]
pub struct SchedulesArgs {
    /// Isolation levels to explore (comma-separated; default: all four).
    #[arg(long, value_delimiter = ',', value_parser = parse_isolation)]
    pub levels: Vec<Isolation>,

    /// Methods to explore (comma-separated numbers or slugs, or all; default: 1,2,3).
    #[arg(long, value_delimiter = ',', value_parser = parse_method_choice)]
    pub methods: Vec<MethodChoice>,

    /// Engines (comma-separated): postgres, mariadb, sqlite, or all (every engine this machine
    /// can start); cockroach and yugabyte at --database-url.
    #[arg(long = "engine", value_delimiter = ',', default_value = "postgres", value_parser = parse_engines)]
    pub engines: Vec<EngineChoice>,

    /// The row's state before each schedule: exists (count 0), absent (the creation race), or
    /// both.
    #[arg(long, value_enum, default_value_t = RowChoice::Both)]
    pub row: RowChoice,

    /// Instances of the method in each schedule.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=3))]
    pub sessions: u32,

    /// The most switches away from a session that could have gone on, per schedule (default:
    /// no bound with 2 sessions, 2 with 3).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=50))]
    pub max_switches: Option<u32>,

    /// The most schedules explored per cell.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_schedules: u64,

    /// Seconds a statement waits for a lock before the database gives up (the safety net
    /// against a lock held outside the schedule).
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    pub lock_timeout: Duration,

    /// Which statements the level reaches: session (every statement) or transaction (only
    /// explicit transactions; autocommit statements run at the database's default).
    #[arg(long, env = "COUNTER_ISOLATION_SCOPE", value_enum, default_value_t = IsolationScope::Session)]
    pub isolation_scope: IsolationScope,

    /// A script of your own as method 12 (custom), as for matrix.
    #[arg(long, env = "COUNTER_METHOD_FILE")]
    pub method_file: Option<PathBuf>,

    /// An engine setting for every session, as name=value (repeatable).
    #[arg(long = "engine-option", value_parser = parse_engine_option)]
    pub engine_options: Vec<EngineOption>,

    /// Database URL (a configured database instead of a throwaway one).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Write every schedule as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write one CSV row per cell to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,

    /// Print the tables as GitHub Markdown.
    #[arg(long)]
    pub markdown: bool,

    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

impl SchedulesArgs {
    pub fn into_command(self) -> anyhow::Result<SchedulesCommand> {
        let outputs = [
            ("--json", self.json.as_deref()),
            ("--csv", self.csv.as_deref()),
        ];
        crate::report::files::check_all(outputs).map_err(anyhow::Error::msg)?;
        let levels = match self.levels.is_empty() {
            true => Isolation::ALL.to_vec(),
            false => distinct(self.levels.iter().copied()),
        };
        let script = match &self.method_file {
            Some(path) => Some(Arc::new(Script::load(path)?)),
            None => None,
        };
        let mut methods = match (self.methods.is_empty(), &script) {
            (true, Some(_)) => vec![MethodId::Custom],
            (true, None) => ORIGINAL.to_vec(),
            (false, _) => distinct(self.methods.iter().flat_map(|choice| match choice {
                MethodChoice::One(method) => vec![*method],
                MethodChoice::All => REGISTRY.to_vec(),
            })),
        };
        if self.methods.contains(&MethodChoice::All)
            && script.is_some()
            && !methods.contains(&MethodId::Custom)
        {
            methods.push(MethodId::Custom);
        }
        if methods.contains(&MethodId::Custom) && script.is_none() {
            anyhow::bail!("method 12 (custom) runs the script given with --method-file FILE");
        }
        let engines = chosen_engines(&self.engines, self.database_url.as_deref())?;
        for option in &self.engine_options {
            if !engines.iter().any(|(engine, _)| *engine == option.engine()) {
                anyhow::bail!(
                    "--engine-option applies to --engine {}",
                    option.engine().name()
                );
            }
        }
        let starts = match self.row {
            RowChoice::Exists => vec![StartState::Exists],
            RowChoice::Absent => vec![StartState::Absent],
            RowChoice::Both => vec![StartState::Exists, StartState::Absent],
        };
        let max_switches = match (self.max_switches, self.sessions) {
            (Some(max), _) => Some(max),
            (None, 2) => None,
            (None, _) => Some(2),
        };
        let config = SchedulesConfig {
            engine: Engine::Postgres,
            levels,
            methods,
            starts,
            scope: self.isolation_scope,
            engine_options: self.engine_options.clone(),
            script,
            sessions: self.sessions as usize,
            max_switches,
            max_schedules: self.max_schedules,
            lock_timeout: self.lock_timeout,
            deadlock_timeout: None,
        };
        Ok(SchedulesCommand {
            config,
            engines,
            throwaway_deadlock_timeout: THROWAWAY_DEADLOCK_TIMEOUT,
            outputs: SchedulesOutputs {
                json: self.json,
                csv: self.csv,
                markdown: self.markdown,
            },
            quiet: self.quiet,
        })
    }
}
