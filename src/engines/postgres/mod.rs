//! PostgreSQL, and the engines that speak its protocol (CockroachDB, YugabyteDB): the
//! connections at the run's isolation level, migrations, what the database says about itself,
//! its throwaway cluster, and sessions left idle in transaction.

pub mod binaries;
pub mod blocking;
pub mod cluster;
pub mod connections;
mod describe;
pub mod errors;
pub mod pooled;
pub mod probes;
pub mod relay;
pub mod script_role;
pub mod session;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU16;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};

use super::backend::{Database, Facts, ScriptAccount};
use super::errors::ErrorTable;
use super::ha::rest::HaView;
use super::options::OpenOptions;
use super::pooler::Pooler;
use super::reads::ReadSql;
use super::shared::{ACQUIRE_TIMEOUT, DbError, migrator, settle};
use crate::model::{DbFailure, Engine, Isolation, IsolationScope, MethodId};
pub use cluster::LocalCluster;
pub use connections::Connections;
use describe::{
    effective_isolation_queries, effective_level, first_answer, follow_primary, on_primary,
    server_version_queries, settings,
};
use script_role::{ScriptConnections, ScriptLogin};
use session::PgSession;

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

/// Parses a PostgreSQL URL. The error deliberately carries no part of the URL: it may hold a
/// password.
pub fn parse_url(url: &str) -> Option<PgConnectOptions> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return None;
    }
    PgConnectOptions::from_str(url).ok()
}

/// A URL for humans: everything needed to connect except the password.
pub fn redact_url(options: &PgConnectOptions) -> String {
    let host = options.get_host();
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        host,
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

/// [`connect_as`] for PostgreSQL itself, at `isolation` for every statement.
pub async fn connect(
    options: &PgConnectOptions,
    isolation: Isolation,
    pool_size: u32,
) -> Result<PgDatabase, DbError> {
    connect_as(
        Engine::Postgres,
        options,
        None,
        None,
        None,
        &OpenOptions::new(isolation, pool_size),
    )
    .await
}

/// Opens the connections at the run's level: in the scope `session` as every connection's
/// `default_transaction_isolation` (so method 3's implicit transactions obey it too), in the
/// scope `transaction` only in `BEGIN ISOLATION LEVEL ...`. Applies the migrations, reads
/// back the level and the settings, and probes which methods the database can really run.
pub async fn connect_as(
    engine: Engine,
    options: &PgConnectOptions,
    pooler: Option<&Pooler>,
    follow: Option<&Arc<HaView>>,
    scripts: Option<&ScriptLogin>,
    open: &OpenOptions,
) -> Result<PgDatabase, DbError> {
    let mut route = pooled::route(options, pooler, open)?;
    route.follow = follow.cloned();
    let direct = pooled::with_level(options, open);
    let begin = begin_statement(open.scope, open.isolation);
    // With a replicated cluster the side pool follows the primary: a watcher points new
    // connections at it, and a connection that leads elsewhere is dropped when taken.
    let primary_port = Arc::new(AtomicU16::new(direct.get_port()));
    let mut side = PgPoolOptions::new()
        .max_connections(SIDE_POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT);
    if follow.is_some() {
        let port = Arc::clone(&primary_port);
        side = side.before_acquire(move |conn, _| {
            let port = Arc::clone(&port);
            Box::pin(async move { Ok(on_primary(conn, &port).await) })
        });
    }
    if follow.is_none() {
        // One connection first: a pool retries a refused connection until its acquire
        // timeout and then says only "pool timed out"; one attempt says why, at once.
        use sqlx::Connection;
        let first = sqlx::PgConnection::connect_with(&direct).await;
        let first = first.map_err(|err| connect_error(&direct, &err))?;
        let _ = first.close().await;
    }
    let pool = side
        .connect_with(direct.clone())
        .await
        .map_err(|err| connect_error(&direct, &err))?;
    migrator(engine).run(&pool).await?;
    let connections = Connections::routed(&route, open.pool_size, ACQUIRE_TIMEOUT);
    // The side pool follows the primary too, from a watcher that ends with the database.
    let watcher = follow.map(|view| follow_primary(&pool, &direct, view, primary_port));
    // The level is read where the increments run: through the pooler, if there is one.
    let shown = async {
        let mut lease = connections.acquire().await?;
        first_answer(&mut lease, begin, effective_isolation_queries(engine)).await
    };
    let shown = shown
        .await
        .map_err(|err| connect_error(&route.options, &err))?;
    connections
        .warm_up()
        .await
        .map_err(|err| connect_error(&route.options, &err))?;
    let mut conn = pool.acquire().await?;
    let server_version = first_answer(&mut conn, "BEGIN", server_version_queries(engine)).await?;
    drop(conn);
    // PostgreSQL has both guards in every supported release (advisory transaction locks since
    // 9.1); the engines that only speak its protocol are asked.
    let unsupported = match engine {
        Engine::Postgres => Vec::new(),
        _ => probes::probe(options).await?,
    };
    // A user's script runs on connections of its own: its role, through the relay. Through a
    // pooler or on a replicated cluster it shares the methods' connections (its transaction
    // state is then checked in its text only).
    let scripts = match (&open.script, pooler, follow) {
        (Some(_), None, None) => Some(script_role::connect(&direct, scripts, &pool, open).await?),
        _ => None,
    };
    let mut settings = settings(&pool).await;
    if let Some(pooler) = pooler {
        settings.insert("pooler".to_string(), pooler.description.clone());
    }
    if let Some(view) = follow {
        settings.insert("topology".to_string(), view.description.clone());
    }
    Ok(PgDatabase {
        connections,
        scripts,
        persistent: route.persistent,
        watcher,
        settings,
        pool,
        engine,
        isolation: open.isolation,
        scope: open.scope,
        begin,
        effective_isolation: effective_level(engine, &shown),
        server_version,
        unsupported,
    })
}

/// How the methods' transactions begin in `scope` at `level` (fixed text per level).
fn begin_statement(scope: IsolationScope, level: Isolation) -> &'static str {
    match (scope, level) {
        (IsolationScope::Session, _) => "BEGIN",
        (IsolationScope::Transaction, Isolation::ReadUncommitted) => {
            "BEGIN ISOLATION LEVEL READ UNCOMMITTED"
        }
        (IsolationScope::Transaction, Isolation::ReadCommitted) => {
            "BEGIN ISOLATION LEVEL READ COMMITTED"
        }
        (IsolationScope::Transaction, Isolation::RepeatableRead) => {
            "BEGIN ISOLATION LEVEL REPEATABLE READ"
        }
        (IsolationScope::Transaction, Isolation::Serializable) => {
            "BEGIN ISOLATION LEVEL SERIALIZABLE"
        }
    }
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

fn connect_error(options: &PgConnectOptions, err: &sqlx::Error) -> DbError {
    DbError::Connect {
        url: redact_url(options),
        reason: errors::describe(err),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_url_never_contains_the_password() {
        let options = parse_url("postgres://alice:s3cret@db.example:6543/shop").unwrap();
        let shown = redact_url(&options);
        assert_eq!(shown, "postgres://alice@db.example:6543/shop");
        assert!(!shown.contains("s3cret"));
    }
}
