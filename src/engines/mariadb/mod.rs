//! MariaDB (InnoDB): the pool with the run's isolation level set on every connection, the
//! methods' statements (`session`), its error numbers (`errors`) and its throwaway server.

pub mod errors;
pub mod server;
pub mod session;

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{Executor, MySqlPool};

use super::reads::ReadSql;
use super::shared::{ACQUIRE_TIMEOUT, DbError, migrator, settle};
use crate::methods::{self, MethodContext};
use crate::model::{DbFailure, Engine, IncrementError, Isolation, MethodId};
pub use server::{LocalMariaDb, find_binaries};
use session::MariaSession;

pub const READS: ReadSql = ReadSql {
    get: "SELECT id, count FROM counter WHERE id = ?",
    delete_one: "DELETE FROM counter WHERE id = ? RETURNING id",
};

/// A pool on MariaDB at one isolation level, and what the server says about it.
#[derive(Debug, Clone)]
pub struct MariaDatabase {
    pub pool: MySqlPool,
    pub isolation: Isolation,
    pub effective_isolation: String,
    pub version: String,
    pub pool_size: u32,
}

/// Parses a MariaDB/MySQL URL (`mysql://` or `mariadb://`); None when it is not one. Like
/// PostgreSQL's, the error never repeats the URL.
pub fn parse_url(url: &str) -> Option<MySqlConnectOptions> {
    let url = url
        .strip_prefix("mariadb://")
        .map(|rest| format!("mysql://{rest}"))
        .unwrap_or_else(|| url.to_string());
    if !url.starts_with("mysql://") {
        return None;
    }
    MySqlConnectOptions::from_str(&url).ok()
}

/// The URL to show humans: never the password.
pub fn redact(options: &MySqlConnectOptions) -> String {
    let place = options
        .get_socket()
        .map(|s| s.display().to_string())
        .unwrap_or_else(|| format!("{}:{}", options.get_host(), options.get_port()));
    format!("mysql://{}@{place}", options.get_username())
}

/// The statement that sets a connection's level (fixed text per level).
fn set_level(level: Isolation) -> &'static str {
    match level {
        Isolation::ReadUncommitted => "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
        Isolation::ReadCommitted => "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        Isolation::RepeatableRead => "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        Isolation::Serializable => "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    }
}

pub async fn connect(
    options: &MySqlConnectOptions,
    level: Isolation,
    pool_size: u32,
) -> Result<MariaDatabase, DbError> {
    let sql = set_level(level);
    let pool = MySqlPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute(sqlx::raw_sql(sql)).await?;
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await?;
    migrator(Engine::Mariadb).run(&pool).await?;
    let effective: String = sqlx::query_scalar("SELECT @@tx_isolation")
        .fetch_one(&pool)
        .await?;
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&pool)
        .await?;
    Ok(MariaDatabase {
        pool,
        isolation: level,
        // "REPEATABLE-READ" -> "repeatable read", to compare with the requested level.
        effective_isolation: effective.to_lowercase().replace('-', " "),
        version,
        pool_size,
    })
}

impl MariaDatabase {
    /// One attempt of `method` on a pooled connection.
    pub async fn increment(
        &self,
        method: MethodId,
        ctx: &MethodContext,
    ) -> Result<i64, IncrementError> {
        let conn = self
            .pool
            .acquire()
            .await
            .map_err(|err| errors::classify(&err))?;
        methods::increment(method, &mut MariaSession::new(conn), ctx).await
    }

    /// Sessions sleeping inside an open InnoDB transaction after `patience`: MariaDB's "idle
    /// in transaction".
    pub async fn settle_idle_in_transaction(&self, patience: Duration) -> Result<i64, DbFailure> {
        let idle = settle(patience, || idle_in_transaction(&self.pool)).await;
        idle.map_err(|e| errors::classify(&e))
    }
}

/// Sessions on this database sleeping inside an open InnoDB transaction, other than the
/// asking one. After a run there must be none. InnoDB refreshes these tables at most every
/// 100 ms, so ask through [`super::shared::settle`].
pub async fn idle_in_transaction(pool: &MySqlPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.INNODB_TRX t \
         JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
         WHERE p.COMMAND = 'Sleep' AND p.ID <> CONNECTION_ID() AND p.DB = DATABASE()",
    )
    .fetch_one(pool)
    .await
}

/// Creates the `counter` database on a fresh throwaway server.
pub async fn create_database(server: &LocalMariaDb) -> Result<(), DbError> {
    use sqlx::ConnectOptions;
    let admin = server.connect_options().database("mysql");
    let mut conn = admin.connect().await?;
    conn.execute("CREATE DATABASE counter").await?;
    Ok(())
}
