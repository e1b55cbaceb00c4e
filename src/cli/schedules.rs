//! `counter schedules`: its flags (matrix's where they apply) and the command they make.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::outputs::TableOutputs;
use clap::{Args, ValueEnum};

use super::Topology;
use super::configure::{chosen_engines, chosen_levels, chosen_methods};
use super::database::GaleraArgs;
use super::parse::{
    parse_engine_option, parse_engines, parse_isolation, parse_method_choice, parse_seconds,
};
use super::{EngineChoice, MethodChoice};
use crate::engines::EngineOption;
use crate::methods::script::Script;
use crate::model::schedule::StartState;
use crate::model::{Cluster, Engine, Isolation, IsolationScope};
use crate::schedules::SchedulesConfig;
use crate::schedules::command::{SchedulesCommand, SchedulesOutputs};

pub(super) use crate::schedules::THROWAWAY_DEADLOCK_TIMEOUT;

/// The flags `schedules` and `explain` share: how each schedule's sessions run, and where.
#[derive(Debug, Clone, Args)]
pub struct ExploreArgs {
    /// Instances of the method in each schedule.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=3))]
    pub sessions: u32,

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

    /// single: one server; galera: a throwaway three-node MariaDB Galera cluster
    /// (--engine mariadb), each instance on the node --placement says.
    #[arg(long, env = "COUNTER_TOPOLOGY", value_enum, default_value_t = Topology::Single)]
    pub topology: Topology,

    #[command(flatten)]
    pub galera: GaleraArgs,
}

impl ExploreArgs {
    /// The `--method-file` script, read and parsed.
    pub fn script(&self) -> anyhow::Result<Option<Arc<Script>>> {
        Ok(match &self.method_file {
            Some(path) => Some(Arc::new(Script::load(path)?)),
            None => None,
        })
    }

    /// The throwaway cluster to explore on (`--topology galera`: MariaDB alone, not with a
    /// configured database); None for a single server.
    pub fn cluster(&self, engines: &[Engine], configured: bool) -> anyhow::Result<Option<Cluster>> {
        match self.topology {
            Topology::Single => Ok(None),
            Topology::Ha => anyhow::bail!(
                "--topology ha: schedules run on a single PostgreSQL server (a standby takes no writes)"
            ),
            Topology::Galera if engines != [Engine::Mariadb] => {
                anyhow::bail!("--topology galera is a MariaDB Galera cluster (--engine mariadb)")
            }
            Topology::Galera if configured => anyhow::bail!(
                "--topology galera starts a throwaway cluster; for an existing one, give --galera-url every node's address"
            ),
            Topology::Galera => Ok(Some(Cluster::Galera(self.galera.setup()))),
        }
    }

    /// Refuses an `--engine-option` for an engine that does not run.
    pub fn check_engine_options(&self, engines: &[Engine]) -> anyhow::Result<()> {
        let foreign = self
            .engine_options
            .iter()
            .find(|o| !engines.contains(&o.engine()));
        match foreign {
            Some(option) => anyhow::bail!(
                "--engine-option applies to --engine {}",
                option.engine().name()
            ),
            None => Ok(()),
        }
    }
}

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

    /// The most switches away from a session that could have gone on, per schedule (default:
    /// no bound with 2 sessions, 2 with 3).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=50))]
    pub max_switches: Option<u32>,

    /// The most schedules explored per cell.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_schedules: u64,

    #[command(flatten)]
    pub explore: ExploreArgs,

    #[command(flatten)]
    pub tables: TableOutputs,

    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

impl SchedulesArgs {
    pub fn into_command(self) -> anyhow::Result<SchedulesCommand> {
        self.tables.check()?;
        let levels = chosen_levels(&self.levels);
        let explore = &self.explore;
        let script = explore.script()?;
        let methods = chosen_methods(&self.methods, script.is_some())?;
        let mut engines = chosen_engines(&self.engines, explore.database_url.as_deref())?;
        let running: Vec<Engine> = engines.iter().map(|(engine, _)| *engine).collect();
        if let [(_, location)] = engines.as_mut_slice() {
            explore.galera.existing(&running, location)?;
        } else {
            explore.galera.existing(&running, &mut None)?;
        }
        explore.check_engine_options(&running)?;
        let configured = engines.iter().any(|(_, location)| location.is_some());
        let cluster = explore.cluster(&running, configured)?;
        let starts = match self.row {
            RowChoice::Exists => vec![StartState::Exists],
            RowChoice::Absent => vec![StartState::Absent],
            RowChoice::Both => vec![StartState::Exists, StartState::Absent],
        };
        let max_switches = match (self.max_switches, explore.sessions) {
            (Some(max), _) => Some(max),
            (None, 2) => None,
            (None, _) => Some(2),
        };
        let config = SchedulesConfig {
            engine: Engine::Postgres,
            levels,
            methods,
            starts,
            scope: explore.isolation_scope,
            engine_options: explore.engine_options.clone(),
            script,
            sessions: explore.sessions as usize,
            max_switches,
            max_schedules: self.max_schedules,
            lock_timeout: explore.lock_timeout,
            deadlock_timeout: None,
            keep_all: false,
            stop: Default::default(),
        };
        Ok(SchedulesCommand {
            config,
            engines,
            throwaway_deadlock_timeout: THROWAWAY_DEADLOCK_TIMEOUT,
            cluster,
            outputs: SchedulesOutputs {
                json: self.tables.json,
                csv: self.tables.csv,
                markdown: self.tables.markdown,
            },
            quiet: self.quiet,
        })
    }
}
