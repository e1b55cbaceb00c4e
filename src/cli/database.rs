//! Where the database is, and what stands between it and the increments: a configured URL or
//! a throwaway server, a pooler, a replicated topology.

use std::sync::Arc;

use clap::Args;

use crate::engines::{self, Location, Pooler, PoolerRequest, ha};
use crate::model::{Cluster, Engine, GaleraSetup, Placement, PoolMode, Replication};

/// Where the database is. Without any of these, a throwaway local database is started.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: postgres://user:password@host:port/db (mysql:// for --engine mariadb).
    /// Overrides the POSTGRES_* keys.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The account a --method-file script runs as on the configured database, as a URL of the
    /// same server (postgres:// or mysql://): give it a role that may read and write the
    /// counter tables and nothing else. Without it scripts run as --database-url's account
    /// (start-up says which, and warns when it is a superuser). On a throwaway server counter
    /// makes such an account itself.
    #[arg(long, env = "COUNTER_SCRIPT_URL", hide_env_values = true)]
    pub script_url: Option<String>,

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

    /// single: one database server; ha: a throwaway replicated PostgreSQL, a primary and a
    /// streaming standby run by Patroni with etcd, whose current primary every connection
    /// follows; galera: a throwaway three-node MariaDB Galera cluster, every node a primary
    /// (--engine mariadb; see --placement).
    #[arg(long, env = "COUNTER_TOPOLOGY", value_enum, default_value_t = Topology::Single)]
    pub topology: Topology,

    /// An existing Patroni cluster behind --database-url: its REST API (http://host:8008,
    /// comma-separated or repeated; one answering is enough). Every connection then goes to
    /// the member Patroni names primary, as with --topology ha.
    #[arg(long, env = "COUNTER_PATRONI_URL", value_delimiter = ',')]
    pub patroni_url: Vec<String>,

    /// With --topology ha: whether a commit waits for the standby (sync, Patroni's
    /// synchronous_mode) or not (async).
    #[arg(long, env = "COUNTER_REPLICATION", value_enum, default_value_t = Replication::Async)]
    pub replication: Replication,

    #[command(flatten)]
    pub galera: GaleraArgs,
}

/// Which Galera cluster (a throwaway one with `--topology galera`, or an existing one with
/// `--galera-url`), how a throwaway one is started, and which node each increment runs on.
#[derive(Debug, Clone, Args)]
pub struct GaleraArgs {
    /// With --topology galera or --galera-url: which node each increment runs on. same: the first node
    /// always (a single writer); spread: round-robin over the nodes, and in schedules each
    /// instance on a node of its own (a load balancer in front of a multi-primary cluster).
    #[arg(long, env = "COUNTER_PLACEMENT", value_enum, default_value_t = Placement::Spread)]
    pub placement: Placement,

    /// With --topology galera: seconds each node after the first may take to join the
    /// cluster, its state transfer included (a slow disk needs more); past it the start
    /// fails with the end of that node's log, and nothing is left running.
    #[arg(long, env = "COUNTER_GALERA_JOIN_TIMEOUT", default_value_t = 60, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub galera_join_timeout: u64,

    /// An existing Galera cluster instead of a throwaway one: every node's URL
    /// (mysql://user:password@host:port/db), comma-separated or repeated, node 1 first (the
    /// API's reads, and every increment under --placement same, run there).
    #[arg(
        long,
        env = "COUNTER_GALERA_URL",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub galera_url: Vec<String>,
}

impl GaleraArgs {
    pub fn setup(&self) -> GaleraSetup {
        GaleraSetup {
            placement: self.placement,
            join_within: std::time::Duration::from_secs(self.galera_join_timeout),
        }
    }

    /// An existing cluster (`--galera-url`) as the configured `location`: its first node
    /// where a configured server would be, every node's pool beside it. Nothing is asked of
    /// the nodes yet: opening the database checks that they are one cluster.
    pub fn existing(
        &self,
        engines: &[Engine],
        location: &mut Option<Location>,
    ) -> anyhow::Result<()> {
        if self.galera_url.is_empty() {
            return Ok(());
        }
        if engines != [Engine::Mariadb] {
            anyhow::bail!("--galera-url is a MariaDB Galera cluster (--engine mariadb)");
        }
        if location.is_some() {
            anyhow::bail!("--galera-url names every node, node 1 first: drop --database-url");
        }
        if self.galera_url.len() < 2 {
            anyhow::bail!("--galera-url: give every node's URL, comma-separated (at least two)");
        }
        let mut options = Vec::new();
        for (i, url) in self.galera_url.iter().enumerate() {
            // Which one, not what it says: a URL may hold a password.
            let parsed = engines::mariadb::parse_url(url.trim()).ok_or_else(|| {
                anyhow::anyhow!("--galera-url: node {}'s URL is not a mysql:// URL", i + 1)
            })?;
            options.push(parsed);
        }
        *location = Some(Location::Mariadb {
            options: Box::new(options[0].clone()),
            scripts: None,
            galera: Some(Arc::new(engines::mariadb::galera::Nodes {
                options,
                placement: self.placement,
                recovery: Default::default(),
            })),
        });
        Ok(())
    }
}

/// One database server, or a replicated cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    Single,
    Ha,
    Galera,
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

impl DatabaseArgs {
    /// The account scripts run as (`--script-url`), set on the configured `location`.
    pub(super) fn scripts(&self, location: &mut Option<Location>) -> anyhow::Result<()> {
        let Some(url) = &self.script_url else {
            return Ok(());
        };
        match location.as_mut() {
            None => anyhow::bail!(
                "--script-url names the scripts' account on a configured database: give \
                 --database-url too (on a throwaway server counter makes one itself)"
            ),
            Some(Location::Postgres { scripts, .. }) => {
                let options = engines::postgres::parse_url(url)
                    .ok_or_else(|| anyhow::anyhow!("--script-url is not a postgres:// URL"))?;
                *scripts = Some(Box::new(engines::postgres::script_role::ScriptLogin {
                    options,
                    made_here: false,
                }));
            }
            Some(Location::Mariadb { scripts, .. }) => {
                let options = engines::mariadb::parse_url(url)
                    .ok_or_else(|| anyhow::anyhow!("--script-url is not a mysql:// URL"))?;
                *scripts = Some(Box::new(engines::mariadb::script_user::ScriptLogin {
                    options,
                    made_here: false,
                }));
            }
            Some(Location::Sqlite(_)) => {
                anyhow::bail!(
                    "--script-url: SQLite has no accounts (its scripts are confined by an authorizer)"
                )
            }
        }
        Ok(())
    }

    /// An existing Patroni cluster to follow (`--patroni-url`): its members, asked now, set on
    /// the configured PostgreSQL `location`.
    pub(super) fn follow(&self, location: &mut Option<Location>) -> anyhow::Result<()> {
        if self.patroni_url.is_empty() {
            return Ok(());
        }
        if self.topology == Topology::Ha || self.pooler.is_some() || self.pooler_url.is_some() {
            anyhow::bail!(
                "--patroni-url follows an existing cluster: without --topology ha or a pooler"
            );
        }
        let Some(Location::Postgres { follow, .. }) = location.as_mut() else {
            anyhow::bail!(
                "--patroni-url needs the cluster's database: give --database-url (postgres://) too"
            );
        };
        let view = ha::rest::discover(&self.patroni_url)
            .map_err(|why| anyhow::anyhow!("--patroni-url: {why}"))?;
        *follow = Some(Arc::new(view));
        Ok(())
    }

    /// The throwaway cluster the run asked for: `--topology ha` (PostgreSQL, without a
    /// pooler) or `--topology galera` (MariaDB); None for a single server.
    pub(super) fn cluster(
        &self,
        engines: &[Engine],
        configured: bool,
    ) -> anyhow::Result<Option<Cluster>> {
        let (cluster, engine, flag) = match self.topology {
            Topology::Single => return Ok(None),
            Topology::Ha => (Cluster::Ha(self.replication), Engine::Postgres, "ha"),
            Topology::Galera => (
                Cluster::Galera(self.galera.setup()),
                Engine::Mariadb,
                "galera",
            ),
        };
        if engines != [engine] {
            let what = match cluster {
                Cluster::Ha(_) => "a replicated PostgreSQL (--engine postgres)",
                Cluster::Galera(_) => "a MariaDB Galera cluster (--engine mariadb)",
            };
            anyhow::bail!("--topology {flag} is {what}");
        }
        if configured {
            let existing = match cluster {
                Cluster::Ha(_) => "give --database-url a node's address",
                Cluster::Galera(_) => "give --galera-url every node's address",
            };
            anyhow::bail!(
                "--topology {flag} starts a throwaway cluster; for an existing one, {existing}"
            );
        }
        if self.pooler.is_some() || self.pooler_url.is_some() {
            anyhow::bail!("--topology {flag} and a pooler cannot be combined yet");
        }
        Ok(Some(cluster))
    }

    /// The pooler the run asked for: a throwaway PgBouncer to start (returned), or an
    /// existing one at --pooler-url (set on the configured `location`). Only PostgreSQL.
    pub(super) fn pooler(
        &self,
        engines: &[Engine],
        location: &mut Option<Location>,
        pool_size: u32,
    ) -> anyhow::Result<Option<PoolerRequest>> {
        if self.pooler.is_none() && self.pooler_url.is_none() {
            if self.pooler_mode.is_some() || self.pooler_as_app {
                anyhow::bail!(
                    "--pooler-mode and --pooler-as-app describe a pooler: give --pooler or --pooler-url"
                );
            }
            return Ok(None);
        }
        if engines != [Engine::Postgres] {
            anyhow::bail!("a pooler goes in front of PostgreSQL only (--engine postgres)");
        }
        match (self.pooler, &self.pooler_url, location.as_mut()) {
            (Some(_), Some(_), _) => {
                anyhow::bail!(
                    "--pooler starts a PgBouncer; --pooler-url names one: give one of them"
                )
            }
            (Some(choice), None, None) => Ok(Some(PoolerRequest {
                mode: choice.mode(),
                pool_size,
                as_application: self.pooler_as_app,
            })),
            (Some(_), None, Some(_)) => anyhow::bail!(
                "--pooler starts a PgBouncer in front of the throwaway cluster; in front of a \
                 configured database, give your pooler with --pooler-url and --pooler-mode"
            ),
            (None, Some(_), None) => {
                anyhow::bail!("--pooler-url needs the database behind it: give --database-url too")
            }
            (None, Some(url), Some(Location::Postgres { pooler, .. })) => {
                let options = engines::postgres::parse_url(url)
                    .ok_or_else(|| anyhow::anyhow!("--pooler-url is not a postgres:// URL"))?;
                let mode = self.pooler_mode.ok_or_else(|| {
                    anyhow::anyhow!("--pooler-url needs --pooler-mode session or transaction")
                })?;
                *pooler = Some(Box::new(Pooler {
                    options,
                    mode,
                    level_entries: false,
                    description: format!("the pooler at --pooler-url, {mode}"),
                    as_application: self.pooler_as_app,
                }));
                Ok(None)
            }
            (None, Some(_), Some(_)) | (None, None, _) => {
                anyhow::bail!("a pooler goes in front of PostgreSQL only")
            }
        }
    }
}
