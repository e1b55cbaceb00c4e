//! What every engine needs to connect: the error of connecting and provisioning, how long a
//! request waits for a connection, the migrations, and a patient check for sessions left
//! idle in transaction.

use std::time::Duration;

use super::supervise::ThrowawayError;
use crate::model::Engine;

/// How long a request waits for a pooled connection before it is answered 503.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Throwaway(#[from] ThrowawayError),
    #[error("could not connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("could not apply the migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the throwaway server's startup task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// A failure classified by an engine (a connection for the script's check).
    #[error("{0}")]
    Failure(#[from] crate::model::DbFailure),
    /// The pooler cannot carry the run as configured.
    #[error("{0}")]
    Pooler(String),
    #[error("SQLite: {0}")]
    Sqlite(String),
    #[error(
        "{0} cannot be started here: give its address with --database-url (DATABASE_URL), e.g. {1}"
    )]
    NeedsUrl(&'static str, &'static str),
}

/// The migrations; for CockroachDB and YugabyteDB without sqlx's `pg_advisory_lock` around
/// them (a no-op stub or a missing function there). Two servers migrating the same empty
/// database at the same instant are then protected only by `CREATE TABLE IF NOT EXISTS`.
///
/// Built at run time from the embedded SQL (not with sqlx's `migrate!` macro, whose proc-macro
/// crates cost the build a copy of sqlx for the host); the checksums are the same.
pub(crate) fn migrator(engine: Engine) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let migrations = crate::model::migrations::MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            let sql = sqlx::AssertSqlSafe(sql).into_sql_str();
            Migration::new(
                version,
                description.into(),
                MigrationType::Simple,
                sql,
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.set_locking(!matches!(engine, Engine::Cockroach | Engine::Yugabyte));
    migrator
}

/// Asks `count_idle` until it answers 0 or `patience` runs out; returns its last answer.
pub(crate) async fn settle<F, Fut>(
    patience: Duration,
    mut count_idle: F,
) -> Result<i64, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<i64, sqlx::Error>>,
{
    let started = std::time::Instant::now();
    loop {
        let idle = count_idle().await?;
        if idle == 0 || started.elapsed() >= patience {
            return Ok(idle);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many of a sqlx pool's `size` connections are free to lend: the idle ones and those not
/// opened yet.
pub(crate) fn free_of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, size: u32) -> (usize, u32) {
    let open = pool.size() as usize;
    let free = pool.num_idle() + (size as usize).saturating_sub(open);
    (free, size)
}
