//! How a server run uses its database: the isolation level and what it reaches, the
//! connections, the think time, durability, and the engine-specific options a user may set.

use std::sync::Arc;
use std::time::Duration;

use crate::methods::script::Script;
use crate::model::{Engine, Isolation, IsolationScope};

/// Whether a throwaway database makes commits durable before acknowledging them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// As an ordinary installation: PostgreSQL's `fsync` and `synchronous_commit` on,
    /// InnoDB's `innodb_flush_log_at_trx_commit = 1`, SQLite's `synchronous = FULL`. A row
    /// lock is then held until the commit record is on disk, which is what makes concurrent
    /// updates of one row overlap for real.
    #[default]
    Durable,
    /// `--no-fsync`: commits skip the flush (fast, for throughput benchmarks; a crash of the
    /// machine may lose them). The window in which two updates overlap shrinks to
    /// microseconds.
    NoFsync,
}

/// An engine setting the user asked for (`--engine-option name=value`); only the settings
/// named here can be set, each applied to every session of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineOption {
    /// MariaDB's `innodb_snapshot_isolation` (10.11: off by default; on by default from
    /// 11.6): with it on, a repeatable read transaction that writes a row changed since its
    /// snapshot is refused (ER_CHECKREAD, 1020) instead of overwriting it.
    InnodbSnapshotIsolation(bool),
    /// MariaDB's `innodb_flush_log_at_trx_commit` (0, 1 or 2; set for the whole server):
    /// when a commit's log reaches the disk. Often set to 0 or 2 on Galera clusters.
    InnodbFlushLogAtTrxCommit(u8),
    /// Galera's `wsrep_retry_autocommit` (0-10000, default 1): how often an autocommit
    /// statement that failed certification is retried before the client hears of it.
    WsrepRetryAutocommit(u16),
    /// Galera's `wsrep_sync_wait` (0-15, default 0): which statements first wait until the
    /// node has applied the cluster's commits (1 reads, 2 updates and deletes, 4 inserts).
    WsrepSyncWait(u8),
    /// Galera's `wsrep_convert_LOCK_to_trx` (set for the whole server): `LOCK TABLES` turned
    /// into a transaction.
    WsrepConvertLockToTrx(bool),
}

/// The names `--engine-option` knows, for the error that lists them.
const KNOWN: &str = "innodb_snapshot_isolation, innodb_flush_log_at_trx_commit, wsrep_retry_autocommit, wsrep_sync_wait, wsrep_convert_LOCK_to_trx (mariadb)";

impl EngineOption {
    /// `innodb_snapshot_isolation=on`; the error lists what is accepted.
    pub fn parse(text: &str) -> Result<EngineOption, String> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| format!("expected name=value, got {text:?}"))?;
        let value = value.trim();
        let flag = || match value.to_ascii_lowercase().as_str() {
            "on" | "1" | "true" => Ok(true),
            "off" | "0" | "false" => Ok(false),
            _ => Err(format!("{name}: expected on or off, got {value:?}")),
        };
        let number = |max: u16| match value.parse::<u16>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!(
                "{name}: expected a whole number from 0 to {max}, got {value:?}"
            )),
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "innodb_snapshot_isolation" => Ok(EngineOption::InnodbSnapshotIsolation(flag()?)),
            "innodb_flush_log_at_trx_commit" => {
                Ok(EngineOption::InnodbFlushLogAtTrxCommit(number(2)? as u8))
            }
            "wsrep_retry_autocommit" => Ok(EngineOption::WsrepRetryAutocommit(number(10_000)?)),
            "wsrep_sync_wait" => Ok(EngineOption::WsrepSyncWait(number(15)? as u8)),
            "wsrep_convert_lock_to_trx" => Ok(EngineOption::WsrepConvertLockToTrx(flag()?)),
            other => Err(format!("unknown engine option {other:?}; known: {KNOWN}")),
        }
    }

    /// The engine the option belongs to.
    pub fn engine(self) -> Engine {
        Engine::Mariadb
    }

    /// The variable's name.
    pub fn name(self) -> &'static str {
        match self {
            EngineOption::InnodbSnapshotIsolation(_) => "innodb_snapshot_isolation",
            EngineOption::InnodbFlushLogAtTrxCommit(_) => "innodb_flush_log_at_trx_commit",
            EngineOption::WsrepRetryAutocommit(_) => "wsrep_retry_autocommit",
            EngineOption::WsrepSyncWait(_) => "wsrep_sync_wait",
            EngineOption::WsrepConvertLockToTrx(_) => "wsrep_convert_LOCK_to_trx",
        }
    }
}

/// How long a session waits for a lock before the database gives up: the schedule
/// explorer's safety net against a lock held by someone outside the schedule. A server run has
/// none (the database's own defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitLimits {
    /// PostgreSQL `lock_timeout`; MariaDB `innodb_lock_wait_timeout` and `lock_wait_timeout`
    /// (whole seconds, rounded up); SQLite: none, its busy timeout is 0 instead (a statement
    /// that would wait answers SQLITE_BUSY at once, which the explorer reads as "blocked").
    pub lock_timeout: Duration,
    /// PostgreSQL's `deadlock_timeout` (how long a waiter waits before the deadlock check
    /// runs). Only a superuser may set it: Some on the throwaway cluster counter starts.
    pub deadlock_timeout: Option<Duration>,
}

/// How one server run opens its database.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub isolation: Isolation,
    pub scope: IsolationScope,
    /// Connections increments run on (at most this many transactions race).
    pub pool_size: u32,
    /// Pause between the read and the write of read-then-write methods.
    pub think: Duration,
    /// For SQLite, whose file is opened here: how commits reach the disk (the server engines
    /// were started with theirs).
    pub durability: Durability,
    pub engine_options: Vec<EngineOption>,
    /// Slots of a sharded counter (method 10).
    pub shards: u32,
    /// The custom method's script (`--method-file`).
    pub script: Option<Arc<Script>>,
    /// Lock waits bounded by the session (the schedule explorer); None for a server run.
    pub waits: Option<WaitLimits>,
    /// The longest any statement may run before the database cancels it (PostgreSQL
    /// `statement_timeout`, MariaDB `max_statement_time`); None: no limit. Without it a
    /// script's `pg_sleep(100)` ran on after its client had hung up, holding a connection.
    pub statement_timeout: Option<Duration>,
}

/// `--statement-timeout`'s default: far above any increment's statement, short enough that
/// a stuck one gives its connection back.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

impl OpenOptions {
    /// `level` for every statement, `pool_size` connections, no think time, durable.
    pub fn new(isolation: Isolation, pool_size: u32) -> OpenOptions {
        OpenOptions {
            isolation,
            scope: IsolationScope::Session,
            pool_size,
            think: Duration::ZERO,
            durability: Durability::Durable,
            engine_options: Vec::new(),
            shards: crate::methods::DEFAULT_SHARDS,
            script: None,
            waits: None,
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
        }
    }
}
