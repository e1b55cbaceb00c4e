//! MariaDB (InnoDB): the pool with the run's isolation level set on every connection, the
//! methods' statements (`session`), its error numbers (`errors`) and its throwaway server.

pub mod blocking;
pub mod errors;
pub mod script_user;
pub mod server;
pub mod session;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{Executor, MySqlPool};

use super::backend::{Database, Facts, ScriptAccount};
use super::errors::ErrorTable;
use super::options::{EngineOption, OpenOptions};
use super::reads::ReadSql;
use super::shared::{ACQUIRE_TIMEOUT, DbError, migrator, settle};
use crate::model::{DbFailure, Engine, Isolation, IsolationScope, MethodId};
use script_user::ScriptLogin;
pub use server::{LocalMariaDb, find_binaries};
use session::MariaSession;

/// Every counter, summed over the tables it may live in: its row, its slots, its ledger
/// entries (the built-in methods use one of them; a custom script may write to several).
macro_rules! counters {
    () => {
        "SELECT id, CAST(SUM(count) AS SIGNED) AS count FROM (SELECT id, count FROM counter \
     UNION ALL SELECT id, CAST(SUM(count) AS SIGNED) FROM counter_shard GROUP BY id \
     UNION ALL SELECT id, COUNT(*) FROM counter_ledger GROUP BY id) AS parts GROUP BY id"
    };
}

pub const READS: ReadSql = ReadSql {
    list: concat!(counters!(), " ORDER BY id"),
    get: concat!(
        "SELECT id, count FROM (",
        counters!(),
        ") AS counters WHERE id = ?"
    ),
    delete_one: [
        "DELETE FROM counter WHERE id = ? RETURNING id",
        "DELETE FROM counter_shard WHERE id = ? RETURNING id",
        "DELETE FROM counter_ledger WHERE id = ? RETURNING id",
    ],
};

/// A pool on MariaDB at one isolation level, and what the server says about it.
#[derive(Debug, Clone)]
pub struct MariaDatabase {
    pub pool: MySqlPool,
    pub isolation: Isolation,
    /// With the scope `transaction`, the statement that sets the level of the next
    /// transaction only (None: every connection's session level is the run's).
    pub next_transaction: Option<&'static str>,
    pub effective_isolation: String,
    pub version: String,
    pub pool_size: u32,
    /// The settings that change outcomes: `innodb_flush_log_at_trx_commit`,
    /// `innodb_snapshot_isolation`.
    pub settings: BTreeMap<String, String>,
    /// The pool users' scripts run on, with its account and whether it is a superuser.
    pub scripts: Option<(MySqlPool, (String, bool))>,
    /// How long method 6's `GET_LOCK` waits, in whole seconds.
    pub lock_wait_s: i64,
}

/// A pool whose every connection first runs `on_connect` (the level, the limits, the engine
/// options).
async fn open_pool(
    options: &MySqlConnectOptions,
    on_connect: Vec<String>,
    size: u32,
) -> Result<MySqlPool, sqlx::Error> {
    MySqlPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _meta| {
            let statements = on_connect.clone();
            Box::pin(async move {
                for sql in statements {
                    // Fixed statements, and limits that are numbers of ours.
                    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)))
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await
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
fn set_session_level(level: Isolation) -> &'static str {
    match level {
        Isolation::ReadUncommitted => "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
        Isolation::ReadCommitted => "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        Isolation::RepeatableRead => "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        Isolation::Serializable => "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    }
}

/// The statement that sets the level of the next transaction only.
fn set_next_level(level: Isolation) -> &'static str {
    match level {
        Isolation::ReadUncommitted => "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
        Isolation::ReadCommitted => "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
        Isolation::RepeatableRead => "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        Isolation::Serializable => "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    }
}

/// The statement that applies an engine option to a session.
fn set_option(option: EngineOption) -> &'static str {
    match option {
        EngineOption::InnodbSnapshotIsolation(true) => "SET SESSION innodb_snapshot_isolation = ON",
        EngineOption::InnodbSnapshotIsolation(false) => {
            "SET SESSION innodb_snapshot_isolation = OFF"
        }
    }
}

/// Opens the pool: every connection gets the run's level (scope `session`) and the engine
/// options; migrations; what the server says about its level, version and settings.
pub async fn connect(
    options: &MySqlConnectOptions,
    scripts: Option<&ScriptLogin>,
    open: &OpenOptions,
) -> Result<MariaDatabase, DbError> {
    let mut on_connect: Vec<String> = open
        .engine_options
        .iter()
        .filter(|option| option.engine() == Engine::Mariadb)
        .map(|&option| set_option(option).to_string())
        .collect();
    if let Some(limit) = open.statement_timeout {
        // Seconds, with decimals; the number is ours.
        let seconds = limit.as_secs_f64();
        on_connect.push(format!("SET SESSION max_statement_time = {seconds}"));
    }
    if let Some(waits) = open.waits {
        // Whole seconds (the variables' unit), at least one; the number is ours.
        let seconds = waits.lock_timeout.as_secs_f64().ceil().max(1.0) as u64;
        on_connect.push(format!(
            "SET SESSION innodb_lock_wait_timeout = {seconds}, lock_wait_timeout = {seconds}"
        ));
    }
    let next_transaction = match open.scope {
        IsolationScope::Session => {
            on_connect.push(set_session_level(open.isolation).to_string());
            None
        }
        IsolationScope::Transaction => Some(set_next_level(open.isolation)),
    };
    let pool = open_pool(options, on_connect.clone(), open.pool_size).await?;
    migrator(Engine::Mariadb).run(&pool).await?;
    // A user's script runs on connections of its own, as its account.
    let scripts = match (&open.script, scripts) {
        (Some(_), login) => {
            if let Some(login) = login {
                script_user::grant_tables(&pool, login).await?;
            }
            let login = login.map_or(options, |login| &login.options);
            let scripts = open_pool(login, on_connect, open.pool_size).await?;
            let account = script_user::describe(&scripts).await?;
            Some((scripts, account))
        }
        (None, _) => None,
    };
    // InnoDB runs every level as named; with the scope `transaction` the session's own level
    // is the server default, and the methods' transactions run at the requested one.
    let effective = match next_transaction {
        Some(_) => open.isolation.sql_name().to_string(),
        None => {
            let shown: String = sqlx::query_scalar("SELECT @@tx_isolation")
                .fetch_one(&pool)
                .await?;
            // "REPEATABLE-READ" -> "repeatable read", to compare with the requested level.
            shown.to_lowercase().replace('-', " ")
        }
    };
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&pool)
        .await?;
    // The lock timeout in whole seconds, at least one, as InnoDB's own.
    let lock_wait_s = open.waits.map_or(session::DEFAULT_LOCK_WAIT_S, |waits| {
        waits.lock_timeout.as_secs_f64().ceil().max(1.0) as i64
    });
    Ok(MariaDatabase {
        lock_wait_s,
        scripts,
        settings: settings(&pool).await,
        pool,
        isolation: open.isolation,
        next_transaction,
        effective_isolation: effective,
        version,
        pool_size: open.pool_size,
    })
}

/// How InnoDB flushes its log at commit, and whether a repeatable read write of a row changed
/// since the snapshot is refused; a variable the server does not have is left out.
async fn settings(pool: &MySqlPool) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    for (name, query) in [
        (
            "innodb_flush_log_at_trx_commit",
            "SELECT CAST(@@innodb_flush_log_at_trx_commit AS CHAR)",
        ),
        (
            "innodb_snapshot_isolation",
            "SELECT IF(@@innodb_snapshot_isolation, 'on', 'off')",
        ),
    ] {
        if let Ok(value) = sqlx::query_scalar::<_, String>(query).fetch_one(pool).await {
            settings.insert(name.to_string(), value);
        }
    }
    settings
}

impl MariaDatabase {
    /// A session on a pooled connection, for one attempt of an increment.
    pub async fn session(&self) -> Result<MariaSession, DbFailure> {
        let conn = self.pool.acquire().await;
        let conn = conn.map_err(|err| errors::classify(&err).before_sending())?;
        Ok(MariaSession::new(
            conn,
            self.next_transaction,
            self.lock_wait_s,
        ))
    }

    /// A session for a user's script: on the scripts' pool (their account), its statements
    /// ended through the run's own pool at the deadline.
    pub async fn script_session(&self) -> Result<MariaSession, DbFailure> {
        let Some((scripts, _)) = &self.scripts else {
            return self.session().await;
        };
        let conn = scripts.acquire().await;
        let conn = conn.map_err(|err| errors::classify(&err).before_sending())?;
        let session = MariaSession::new(conn, self.next_transaction, self.lock_wait_s);
        Ok(session.killed_through(self.pool.clone()))
    }

    /// Sessions sleeping inside an open InnoDB transaction after `patience`: MariaDB's "idle
    /// in transaction".
    pub async fn settle_idle_in_transaction(&self, patience: Duration) -> Result<i64, DbFailure> {
        let idle = settle(patience, || idle_in_transaction(&self.pool)).await;
        idle.map_err(|e| errors::classify(&e))
    }
}

impl Database for MariaDatabase {
    fn key_statements(&self, method: MethodId) -> &'static [&'static str] {
        session::key_statements(method)
    }

    type Session = MariaSession;
    type Pooled = sqlx::MySql;
    type Probe = blocking::MariaProbe;
    const ERRORS: &'static ErrorTable = &errors::TABLE;
    const READS: &'static ReadSql = &READS;

    async fn session(&self) -> Result<MariaSession, DbFailure> {
        MariaDatabase::session(self).await
    }

    async fn script_session(&self) -> Result<MariaSession, DbFailure> {
        MariaDatabase::script_session(self).await
    }

    async fn probe(&self) -> Result<blocking::MariaProbe, DbFailure> {
        blocking::MariaProbe::connect(&self.pool.connect_options()).await
    }

    fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    fn free_connections(&self) -> (usize, u32) {
        super::shared::free_of(&self.pool, self.pool_size)
    }

    fn facts(&self) -> Facts {
        Facts {
            engine: Engine::Mariadb,
            effective_isolation: self.effective_isolation.clone(),
            server_version: self.version.clone(),
            pool_size: self.pool_size,
            settings: self.settings.clone(),
            scripts: self
                .scripts
                .as_ref()
                .map(|(_, (name, superuser))| ScriptAccount {
                    name: format!("account {name}"),
                    superuser: *superuser,
                }),
        }
    }

    async fn close(&self) {
        if let Some((scripts, _)) = &self.scripts {
            scripts.close().await;
        }
        self.pool.close().await;
    }

    async fn settle_idle_in_transaction(&self, patience: Duration) -> Result<i64, DbFailure> {
        MariaDatabase::settle_idle_in_transaction(self, patience).await
    }

    /// `innodb_max_purge_lag_wait = 0` waits until InnoDB's history list is empty (MariaDB's
    /// own test suite settles purge this way); on a throwaway server it takes milliseconds.
    /// Bounded: another client's open snapshot holds purge back for as long as it lives, and
    /// the wait would last as long (tried: `max_statement_time` ends it quietly, so the history
    /// is asked afterwards). It needs SUPER: a `--database-url` account may lack it (1227).
    async fn forget_deleted(&self) -> Result<bool, DbFailure> {
        let waited = sqlx::query(
            "SET STATEMENT max_statement_time = 2 FOR SET GLOBAL innodb_max_purge_lag_wait = 0",
        )
        .execute(&self.pool)
        .await;
        match waited {
            Ok(_) => {}
            Err(sqlx::Error::Database(err)) if errors::number_of(err.as_ref()) == Some(1227) => {
                return Ok(false);
            }
            Err(err) => return Err(errors::classify(&err)),
        }
        let history: (String, String) =
            sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
                .fetch_one(&self.pool)
                .await
                .map_err(|err| errors::classify(&err))?;
        Ok(history.1 == "0")
    }

    fn summary(&self, method: MethodId) -> &'static str {
        match method {
            MethodId::TableLock => session::TABLE_LOCK_SUMMARY,
            MethodId::AdvisoryLock => session::ADVISORY_LOCK_SUMMARY,
            _ => crate::methods::summary(method),
        }
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
