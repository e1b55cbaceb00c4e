//! PostgreSQL and the engines that speak its protocol: the connections at the run's isolation
//! level, migrations, what the database says about itself, and sessions left idle in
//! transaction.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{ACQUIRE_TIMEOUT, Connections, DbError, capabilities, connect_error, migrator, settle};
use crate::cli::Isolation;
use crate::engine::Engine;

/// How many connections the pool for everything but increments (reads, resets, health
/// checks, migrations) may open.
const SIDE_POOL_SIZE: u32 = 2;

/// Connections at one isolation level, and what the database says about it.
#[derive(Debug, Clone)]
pub struct Database {
    /// The connections increments run on (`pool_size` of them).
    pub connections: Connections,
    /// A small sqlx pool at the same level for everything else.
    pub pool: PgPool,
    /// PostgreSQL, or the PostgreSQL-protocol engine behind the URL.
    pub engine: Engine,
    pub isolation: Isolation,
    /// The level transactions really run at, read inside one (CockroachDB and YugabyteDB run
    /// some levels as stronger ones).
    pub effective_isolation: String,
    pub server_version: String,
    /// Methods whose guard this database refuses or does not enforce (probed at connect).
    pub unsupported: Vec<capabilities::Unsupported>,
}

/// [`connect_as`] for PostgreSQL itself.
pub async fn connect(
    options: &PgConnectOptions,
    isolation: Isolation,
    pool_size: u32,
) -> Result<Database, DbError> {
    connect_as(Engine::Postgres, options, isolation, pool_size).await
}

/// Opens the pool with `default_transaction_isolation` set on every connection (so method 3's
/// implicit transactions obey it too), applies the migrations, reads back the level and
/// probes which methods the database can really run.
pub async fn connect_as(
    engine: Engine,
    options: &PgConnectOptions,
    isolation: Isolation,
    pool_size: u32,
) -> Result<Database, DbError> {
    let pooled = options
        .clone()
        .options([("default_transaction_isolation", isolation.sql_name())]);
    let pool = PgPoolOptions::new()
        .max_connections(SIDE_POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(pooled.clone())
        .await
        .map_err(|err| connect_error(&pooled, &err))?;
    migrator(engine).run(&pool).await?;
    let effective_isolation = first_answer(&pool, effective_isolation_queries(engine)).await?;
    let server_version = first_answer(&pool, server_version_queries(engine)).await?;
    // PostgreSQL has both guards in every supported release (advisory transaction locks since
    // 9.1); the engines that only speak its protocol are asked.
    let unsupported = match engine {
        Engine::Postgres => Vec::new(),
        _ => capabilities::probe(options).await?,
    };
    Ok(Database {
        connections: Connections::new(pooled, pool_size, ACQUIRE_TIMEOUT),
        pool,
        engine,
        isolation,
        effective_isolation,
        server_version,
        unsupported,
    })
}

/// How to ask each engine which level its transactions really run at, best first.
/// YugabyteDB answers `SHOW transaction_isolation` with the level asked for even when it runs
/// read committed as snapshot (its `yb_enable_read_committed_isolation` flag is off).
fn effective_isolation_queries(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Yugabyte => &[
            "SELECT yb_get_effective_transaction_isolation_level()",
            "SHOW yb_effective_transaction_isolation_level",
            "SHOW transaction_isolation",
        ],
        _ => &["SHOW transaction_isolation"],
    }
}

/// How to ask for the server's version: CockroachDB's `server_version` is the PostgreSQL
/// version it imitates, its own is in `version()`.
fn server_version_queries(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Cockroach => &["SELECT split_part(version(), ' (', 1)"],
        _ => &["SHOW server_version"],
    }
}

/// The answer of the first query that works, each asked inside a transaction of its own (the
/// level of a transaction, not of the session, is what an engine may upgrade); the last
/// query's error if none does.
async fn first_answer(pool: &PgPool, queries: &[&'static str]) -> Result<String, sqlx::Error> {
    let mut last_error = None;
    for &query in queries {
        let mut tx = pool.begin().await?;
        let answer = sqlx::query_scalar::<_, String>(query)
            .fetch_one(&mut *tx)
            .await;
        tx.rollback().await?;
        match answer {
            Ok(answer) => return Ok(answer),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or(sqlx::Error::RowNotFound))
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

/// Waits up to `patience` for abandoned-looking transactions to finish (a request whose client
/// gave up may still be completing); returns how many are still idle in transaction.
pub async fn settle_idle_in_transaction(
    pool: &PgPool,
    patience: Duration,
) -> Result<i64, sqlx::Error> {
    settle(patience, || idle_in_transaction(pool)).await
}
