//! PostgreSQL, and the engines that speak its protocol (CockroachDB, YugabyteDB): the
//! connections at the run's isolation level, migrations, what the database says about itself,
//! its throwaway cluster, and sessions left idle in transaction.

pub mod binaries;
pub mod blocking;
pub mod cluster;
pub mod connections;
mod describe;
pub mod errors;
mod lease;
mod open;
pub mod pooled;
pub mod probes;
pub mod proxy;
pub mod relay;
pub mod script_role;
pub mod session;
mod slots;
mod url;

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Executor};

use super::database::{Database, Facts, ScriptAccount};
use super::errors::ErrorTable;
use super::reads::ReadSql;
use super::shared::{DbError, settle};
use crate::model::{DbFailure, Engine, Isolation, IsolationScope, MethodId};
pub use cluster::LocalCluster;
pub use connections::Connections;
use open::connect_error;
pub use open::{connect, connect_as};
use script_role::ScriptConnections;
use session::PgSession;
pub use url::{parse_url, redact_url};

/// How many connections the pool for everything but increments (reads, resets, health
/// checks, migrations) may open.
const SIDE_POOL_SIZE: u32 = 2;

/// Every counter, summed over the tables it may live in: its row, its slots, its ledger
/// entries (the built-in methods use one of them; a custom script may write to several).
macro_rules! counters {
    () => {
        "SELECT id, SUM(count)::BIGINT AS count FROM (SELECT id, count FROM counter \
     UNION ALL SELECT id, SUM(count)::BIGINT FROM counter_shard GROUP BY id \
     UNION ALL SELECT id, COUNT(*) FROM counter_ledger GROUP BY id) AS parts GROUP BY id"
    };
}

pub const READS: ReadSql = ReadSql {
    list: concat!(counters!(), " ORDER BY id"),
    get: concat!(
        "SELECT id, count FROM (",
        counters!(),
        ") AS counters WHERE id = $1"
    ),
    delete_one: [
        "DELETE FROM counter WHERE id = $1 RETURNING id",
        "DELETE FROM counter_shard WHERE id = $1 RETURNING id",
        "DELETE FROM counter_ledger WHERE id = $1 RETURNING id",
    ],
};

/// Connections at one isolation level, and what the database says about it.
#[derive(Debug, Clone)]
pub struct PgDatabase {
    /// The connections increments run on (`pool_size` of them).
    pub connections: Connections,
    /// A small sqlx pool at the same level for everything else.
    pub pool: PgPool,
    /// PostgreSQL, or the PostgreSQL-protocol engine behind the URL.
    pub engine: Engine,
    pub isolation: Isolation,
    pub scope: IsolationScope,
    /// How the methods open a transaction: `BEGIN`, or with the scope `transaction`,
    /// `BEGIN ISOLATION LEVEL ...`.
    pub begin: &'static str,
    /// The level transactions really run at, read inside one (PostgreSQL runs read
    /// uncommitted as read committed; CockroachDB and YugabyteDB run some levels as others).
    pub effective_isolation: String,
    pub server_version: String,
    /// The settings that change outcomes: `fsync`, `synchronous_commit` (and the pooler).
    pub settings: BTreeMap<String, String>,
    /// Whether the increments' statements may be named and kept (not through a transaction
    /// pooler).
    pub persistent: bool,
    /// The task pointing the side pool at a replicated cluster's primary (aborted on close).
    pub watcher: Option<tokio::task::AbortHandle>,
    /// Methods whose guard this database refuses or does not enforce (probed at connect).
    pub unsupported: Vec<probes::Unsupported>,
    /// The connections users' scripts run on, when they have their own.
    pub scripts: Option<ScriptConnections>,
}

impl PgDatabase {
    /// A session on a leased connection, for one attempt of an increment.
    pub async fn session(&self) -> Result<PgSession, DbFailure> {
        let lease = self.connections.acquire().await;
        let lease = lease.map_err(|err| errors::classify(&err).before_sending())?;
        Ok(PgSession::new(lease, self.begin, self.persistent))
    }

    /// A session for a user's script: on the script connections (their role, through the
    /// relay) when there are some.
    pub async fn script_session(&self) -> Result<PgSession, DbFailure> {
        let Some(scripts) = &self.scripts else {
            return self.session().await;
        };
        let lease = scripts.connections.acquire().await;
        let lease = lease.map_err(|err| errors::classify(&err).before_sending())?;
        Ok(PgSession::new(lease, self.begin, self.persistent))
    }

    /// Why this database cannot run `method`, according to the connect-time probes.
    pub fn probed_gap(&self, method: MethodId) -> Option<String> {
        let gap = self.unsupported.iter().find(|gap| gap.method == method);
        gap.map(|gap| gap.reason.clone())
    }

    pub async fn close(&self) {
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
        self.connections.close().await;
        if let Some(scripts) = &self.scripts {
            scripts.connections.close().await;
        }
        self.pool.close().await;
    }

    /// Waits up to `patience` for abandoned-looking transactions to finish (a request whose
    /// client gave up may still be completing); returns how many are still idle in
    /// transaction.
    pub async fn settle_idle_in_transaction(&self, patience: Duration) -> Result<i64, DbFailure> {
        let idle = settle(patience, || idle_in_transaction(&self.pool)).await;
        idle.map_err(|e| errors::classify(&e))
    }
}

/// Sessions of this database left "idle in transaction" (other than the asking one): after a
/// run there must be none, or a transaction was abandoned mid-way.
pub async fn idle_in_transaction(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(pool)
    .await
}

/// Creates `name` through the `admin` connection. The name is one of our own identifiers,
/// checked here, so formatting it into the statement is safe.
pub async fn create_database(admin: &PgConnectOptions, name: &str) -> Result<(), DbError> {
    assert!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "database names are internal identifiers"
    );
    let mut conn = admin
        .connect()
        .await
        .map_err(|err| connect_error(admin, &err))?;
    let sql = format!("CREATE DATABASE \"{name}\"");
    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
    Ok(())
}

impl Database for PgDatabase {
    fn key_statements(&self, method: MethodId) -> &'static [&'static str] {
        session::key_statements(method)
    }

    type Session = PgSession;
    type Pooled = sqlx::Postgres;
    type Probe = blocking::PgProbe;
    const ERRORS: &'static ErrorTable = &errors::TABLE;
    const READS: &'static ReadSql = &READS;

    async fn session(&self) -> Result<PgSession, DbFailure> {
        PgDatabase::session(self).await
    }

    async fn script_session(&self) -> Result<PgSession, DbFailure> {
        PgDatabase::script_session(self).await
    }

    async fn probe(&self) -> Result<blocking::PgProbe, DbFailure> {
        blocking::PgProbe::connect(&self.pool.connect_options()).await
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn free_connections(&self) -> (usize, u32) {
        (self.connections.free(), self.connections.size())
    }

    fn facts(&self) -> Facts {
        Facts {
            engine: self.engine,
            effective_isolation: self.effective_isolation.clone(),
            server_version: self.server_version.clone(),
            pool_size: self.connections.size(),
            settings: self.settings.clone(),
            scripts: self.scripts.as_ref().map(|scripts| ScriptAccount {
                name: format!("role {}", scripts.role.name),
                superuser: scripts.role.superuser,
            }),
        }
    }

    async fn close(&self) {
        PgDatabase::close(self).await;
    }

    async fn settle_idle_in_transaction(&self, patience: Duration) -> Result<i64, DbFailure> {
        PgDatabase::settle_idle_in_transaction(self, patience).await
    }

    fn probed_gap(&self, method: MethodId) -> Option<String> {
        PgDatabase::probed_gap(self, method)
    }
}
