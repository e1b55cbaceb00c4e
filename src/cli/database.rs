//! Where the database is, and what stands between it and the increments: a configured URL or
//! a throwaway server, a pooler, a replicated topology.

use clap::Args;

use crate::model::{PoolMode, Replication};

/// Where the database is. Without any of these, a throwaway local database is started.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: postgres://user:password@host:port/db (mysql:// for --engine mariadb).
    /// Overrides the POSTGRES_* keys.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Put a connection pooler between the increments and PostgreSQL: a throwaway PgBouncer
    /// in front of the throwaway cluster, pooling sessions or transactions.
    #[arg(long, env = "COUNTER_POOLER", value_enum)]
    pub pooler: Option<PoolerChoice>,

    /// An existing pooler in front of --database-url, as a postgres:// URL (for example
    /// PgBouncer on port 6432); the increments go through it. Needs --pooler-mode.
    #[arg(long, env = "COUNTER_POOLER_URL", hide_env_values = true)]
    pub pooler_url: Option<String>,

    /// How the pooler at --pooler-url lends its server connections.
    #[arg(long, env = "COUNTER_POOLER_MODE", value_enum)]
    pub pooler_mode: Option<PoolMode>,

    /// Through the pooler, connect as an application that does not know its traps: the level
    /// in the startup parameter `options` (which the throwaway PgBouncer is then told to
    /// ignore), named prepared statements, autocommit statements sent as they are.
    #[arg(long)]
    pub pooler_as_app: bool,

    /// single: one PostgreSQL cluster; ha: a throwaway replicated one, a primary and a
    /// streaming standby run by Patroni with etcd, whose current primary every connection
    /// follows.
    #[arg(long, env = "COUNTER_TOPOLOGY", value_enum, default_value_t = Topology::Single)]
    pub topology: Topology,

    /// With --topology ha: whether a commit waits for the standby (sync, Patroni's
    /// synchronous_mode) or not (async).
    #[arg(long, env = "COUNTER_REPLICATION", value_enum, default_value_t = Replication::Async)]
    pub replication: Replication,
}

/// One database server, or a replicated cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    Single,
    Ha,
}

/// Which throwaway pooler to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolerChoice {
    /// PgBouncer with `pool_mode = session`.
    PgbouncerSession,
    /// PgBouncer with `pool_mode = transaction`.
    PgbouncerTransaction,
}

impl PoolerChoice {
    pub fn mode(self) -> PoolMode {
        match self {
            PoolerChoice::PgbouncerSession => PoolMode::Session,
            PoolerChoice::PgbouncerTransaction => PoolMode::Transaction,
        }
    }
}
