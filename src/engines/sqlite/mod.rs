//! SQLite, embedded: a database file in a throwaway directory, with write-ahead logging (so
//! readers do not block the writer) and a busy timeout (so writers queue instead of failing at
//! once, as SQLite's own lock allows). Its statements are in `session`, its result codes in
//! `errors`; what it cannot express is said by `capabilities`.

mod capabilities;
mod confine;
pub mod errors;
pub mod session;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::blocking::NoServer;
use super::database::{Database, Facts};
use super::errors::ErrorTable;
use super::options::{Durability, OpenOptions};
use super::reads::ReadSql;
use super::shared::{ACQUIRE_TIMEOUT, DbError, migrator};
use crate::model::{DbFailure, Engine, Isolation, MethodId};
pub use capabilities::not_applicable;
use session::SqliteSession;

/// How long a writer waits for SQLite's lock before the database answers BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Every counter, summed over the tables it may live in: its row, its slots, its ledger
/// entries (the built-in methods use one of them; a custom script may write to several).
macro_rules! counters {
    () => {
        "SELECT id, SUM(count) AS count FROM (SELECT id, count FROM counter \
     UNION ALL SELECT id, SUM(count) FROM counter_shard GROUP BY id \
     UNION ALL SELECT id, COUNT(*) FROM counter_ledger GROUP BY id) AS parts GROUP BY id"
    };
}

pub const READS: ReadSql = ReadSql {
    list: concat!(counters!(), " ORDER BY id"),
    get: concat!(
        "SELECT id, count FROM (",
        counters!(),
        ") AS counters WHERE id = ?1"
    ),
    delete_one: [
        "DELETE FROM counter WHERE id = ?1 RETURNING id",
        "DELETE FROM counter_shard WHERE id = ?1 RETURNING id",
        "DELETE FROM counter_ledger WHERE id = ?1 RETURNING id",
    ],
};

/// A directory holding one SQLite database, private to the invoking user; removed when
/// dropped.
#[derive(Debug)]
pub struct SqliteFile {
    dir: PathBuf,
}

impl SqliteFile {
    pub fn create() -> std::io::Result<SqliteFile> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("counter-sqlite-{}-{nanos:09}", std::process::id()));
        // Private to the invoking user, like the throwaway servers' directories.
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&dir)?;
        Ok(SqliteFile { dir })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("counter.sqlite3")
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A pool on a SQLite file, and what the database says about itself.
#[derive(Debug, Clone)]
pub struct SqliteDatabase {
    pub pool: SqlitePool,
    pub version: String,
    pub pool_size: u32,
    /// The settings that change outcomes: `synchronous`, `journal_mode`.
    pub settings: BTreeMap<String, String>,
}

/// Opens (creating when needed) the database at `path` and applies the migrations. Durable
/// commits are `synchronous = FULL` (flushed at every commit); `--no-fsync` is `OFF`.
pub async fn connect(path: &Path, open: &OpenOptions) -> Result<SqliteDatabase, DbError> {
    let synchronous = match open.durability {
        Durability::Durable => SqliteSynchronous::Full,
        Durability::NoFsync => SqliteSynchronous::Off,
    };
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(match open.waits {
            // The explorer reads SQLITE_BUSY as "this step would block".
            Some(_) => Duration::ZERO,
            None => BUSY_TIMEOUT,
        });
    let pool_size = open.pool_size;
    let pool = SqlitePoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    migrator(Engine::Sqlite).run(&pool).await?;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&pool)
        .await?;
    Ok(SqliteDatabase {
        settings: settings(&pool).await?,
        pool,
        version,
        pool_size,
    })
}

/// `synchronous` (by name) and `journal_mode`, as the connections run them.
async fn settings(pool: &SqlitePool) -> Result<BTreeMap<String, String>, sqlx::Error> {
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await?;
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await?;
    let synchronous = match synchronous {
        0 => "off",
        1 => "normal",
        2 => "full",
        3 => "extra",
        _ => "unknown",
    };
    Ok(BTreeMap::from([
        ("synchronous".to_string(), synchronous.to_string()),
        ("journal_mode".to_string(), journal_mode.to_lowercase()),
    ]))
}

impl SqliteDatabase {
    /// A session on a pooled connection, for one attempt of an increment.
    pub async fn session(&self) -> Result<SqliteSession, DbFailure> {
        let conn = self.pool.acquire().await;
        let conn = conn.map_err(|err| errors::classify(&err).before_sending())?;
        Ok(SqliteSession::new(conn))
    }

    /// A session for a user's script: its connection confined to the counter's tables (see
    /// `confine.rs`), and closed after it.
    pub async fn script_session(&self) -> Result<SqliteSession, DbFailure> {
        let conn = self.pool.acquire().await;
        let mut conn = conn.map_err(|err| errors::classify(&err).before_sending())?;
        let handle = confine::confine(&mut conn).await;
        let handle = handle.map_err(|err| errors::classify(&err))?;
        Ok(SqliteSession::confined(conn, handle))
    }
}

impl Database for SqliteDatabase {
    fn key_statements(&self, method: MethodId) -> &'static [&'static str] {
        session::key_statements(method)
    }

    type Session = SqliteSession;
    type Pooled = sqlx::Sqlite;
    type Probe = NoServer;
    const ERRORS: &'static ErrorTable = &errors::TABLE;
    const READS: &'static ReadSql = &READS;

    async fn session(&self) -> Result<SqliteSession, DbFailure> {
        SqliteDatabase::session(self).await
    }

    async fn script_session(&self) -> Result<SqliteSession, DbFailure> {
        SqliteDatabase::script_session(self).await
    }

    async fn probe(&self) -> Result<NoServer, DbFailure> {
        Ok(NoServer)
    }

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn free_connections(&self) -> (usize, u32) {
        super::shared::free_of(&self.pool, self.pool_size)
    }

    fn facts(&self) -> Facts {
        Facts {
            engine: Engine::Sqlite,
            effective_isolation: Isolation::Serializable.sql_name().to_string(),
            server_version: self.version.clone(),
            pool_size: self.pool_size,
            settings: self.settings.clone(),
            scripts: Some(super::database::ScriptAccount {
                name: "an authorizer (the counter tables only)".to_string(),
                superuser: false,
            }),
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    /// SQLite has no server sessions: its transactions live in our own pooled connections.
    async fn settle_idle_in_transaction(&self, _patience: Duration) -> Result<i64, DbFailure> {
        Ok(0)
    }

    fn summary(&self, method: MethodId) -> &'static str {
        match method {
            MethodId::TableLock => session::TABLE_LOCK_SUMMARY,
            _ => crate::methods::summary(method),
        }
    }
}
