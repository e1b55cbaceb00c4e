//! `counter explain`: one cell's schedules, the shortest of each class shown step by step.

use super::outputs::ReplayOutputs;
use clap::{Args, ValueEnum};

use super::env;
use super::parse::{parse_isolation, parse_method};
use super::schedules::ExploreArgs;
use crate::model::schedule::{ScheduleClass, StartState};
use crate::model::{Engine, Isolation, MethodId};
use crate::schedules::SchedulesConfig;
use crate::schedules::explain::{ExplainCommand, Shown};

/// The row's state before each schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RowState {
    Exists,
    Absent,
}

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// Method: a number (1, 2, 3, ...) or a slug (table-lock, row-lock, ...; custom for
    /// --method-file).
    #[arg(short = 'n', long = "method", value_parser = parse_method)]
    pub method: MethodId,

    /// Isolation level of both sessions.
    #[arg(long, default_value = "read-committed", value_parser = parse_isolation)]
    pub isolation: Isolation,

    /// Database engine: postgres, mariadb, sqlite (throwaway), cockroach or yugabyte (URL).
    #[arg(long, value_enum, default_value_t = Engine::Postgres)]
    pub engine: Engine,

    /// The row's state before each schedule.
    #[arg(long, value_enum, default_value_t = RowState::Exists)]
    pub row: RowState,

    /// Show the shortest schedule of this class only: exact, exact-after-wait, refused,
    /// deadlock, timeout, unknown, duplicate, extra or lost.
    #[arg(long, value_parser = parse_class)]
    pub class: Option<ScheduleClass>,

    /// Show every schedule, not only the shortest of each class.
    #[arg(long, conflicts_with = "class")]
    pub all: bool,

    #[command(flatten)]
    pub replays: ReplayOutputs,

    #[command(flatten)]
    pub explore: ExploreArgs,
}

fn parse_class(text: &str) -> Result<ScheduleClass, String> {
    let wanted = text.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    let known = ScheduleClass::ALL.into_iter();
    let mut known = known.map(|class| (class.key(), class));
    let found = known
        .find(|(key, _)| *key == wanted || (wanted == "duplicate_counts" && *key == "duplicate"));
    found.map(|(_, class)| class).ok_or_else(|| {
        let keys: Vec<&str> = ScheduleClass::ALL.iter().map(|c| c.key()).collect();
        format!("unknown class {text:?}; known: {}", keys.join(", "))
    })
}

impl ExplainArgs {
    pub fn into_command(self) -> anyhow::Result<ExplainCommand> {
        self.replays.check()?;
        let explore = &self.explore;
        let script = explore.script()?;
        let method = match (&script, self.method) {
            (None, MethodId::Custom) => {
                anyhow::bail!("method 12 (custom) runs the script given with --method-file FILE")
            }
            (_, method) => method,
        };
        if let Some(reason) = crate::schedules::not_explored(method) {
            anyhow::bail!("method {method} has no schedules to explain: {reason}");
        }
        explore.check_engine_options(&[self.engine])?;
        let mut location = env::location(self.engine, explore.database_url.as_deref())?;
        explore.galera.existing(&[self.engine], &mut location)?;
        let cluster = explore.cluster(&[self.engine], location.is_some())?;
        let config = SchedulesConfig {
            engine: self.engine,
            levels: vec![self.isolation],
            methods: vec![method],
            starts: vec![match self.row {
                RowState::Exists => StartState::Exists,
                RowState::Absent => StartState::Absent,
            }],
            scope: explore.isolation_scope,
            engine_options: explore.engine_options.clone(),
            script,
            sessions: explore.sessions as usize,
            max_switches: (explore.sessions > 2).then_some(2),
            max_schedules: 20_000,
            lock_timeout: explore.lock_timeout,
            deadlock_timeout: None,
            keep_all: self.all,
            stop: Default::default(),
        };
        let shown = match (self.all, self.class) {
            (true, _) => Shown::All,
            (false, Some(class)) => Shown::Class(class),
            (false, None) => Shown::EveryClass,
        };
        Ok(ExplainCommand {
            config,
            location,
            throwaway_deadlock_timeout: super::schedules::THROWAWAY_DEADLOCK_TIMEOUT,
            cluster,
            shown,
            spec: self.replays.spec,
            svg: self.replays.svg,
            psql: self.replays.psql,
        })
    }
}
