//! The methods' statements on MariaDB (InnoDB), every one through the session's [`Wire`].
//! Where MariaDB needs them done differently:
//! - table lock: `LOCK TABLES ... WRITE` commits any open transaction and only works with
//!   autocommit off, so it is `SET autocommit = 0`, `LOCK TABLES`, work, `COMMIT`,
//!   `UNLOCK TABLES` (the order MariaDB's manual prescribes).
//! - `UPDATE` has no `RETURNING`: the count written is read back with the
//!   `LAST_INSERT_ID(expr)` idiom, which is per connection.
//! - advisory lock: `GET_LOCK` is held by the session, not the transaction: taken before the
//!   transaction, released after it.
//! - a failed INSERT (duplicate key) aborts only its statement: no savepoint is needed.

use std::sync::Arc;

use sqlx::mysql::{MySqlConnection, MySqlQueryResult};
use sqlx::pool::PoolConnection;
use sqlx::{Executor, MySql, MySqlPool};

use super::errors::{self, DUPLICATE_ENTRY};
use super::galera::OnNode;
use crate::engines::wire::{ServerIdQuery, Tx, Wire, pooled_link, session_through_wire};
use crate::methods::script::lex::ScriptDialect;
use crate::methods::{Canceller, Guard, Inserted, Read, Session};
use crate::model::statement::Effect;
use crate::model::{DbFailure, IncrementError, Isolation, MethodId};

const SELECT: &str = "SELECT count FROM counter WHERE id = ?";
const SELECT_FOR_UPDATE: &str = "SELECT count FROM counter WHERE id = ? FOR UPDATE";
const INSERT: &str = "INSERT INTO counter (id, count) VALUES (?, 0)";
const WRITE: &str = "UPDATE counter SET count = ? WHERE id = ?";
const SWAP: &str = "UPDATE counter SET count = ? WHERE id = ? AND count = ?";
const ADD: &str = "UPDATE counter SET count = LAST_INSERT_ID(count + ?) WHERE id = ?";
const ADD_TO_SLOT: &str = "INSERT INTO counter_shard (id, slot, count) VALUES (?, ?, 1) \
     ON DUPLICATE KEY UPDATE count = LAST_INSERT_ID(count + 1)";
const APPEND: &str = "INSERT INTO counter_ledger (id) VALUES (?)";
const UPSERT: &str = "INSERT INTO counter (id, count) VALUES (?, 1) \
     ON DUPLICATE KEY UPDATE count = LAST_INSERT_ID(count + 1)";
/// Signed: sqlx reads no unsigned BIGINT into an i64.
const WRITTEN: &str = "SELECT CAST(LAST_INSERT_ID() AS SIGNED)";
/// The second value: how long to wait for the lock, in seconds (the run's lock timeout).
const GET_LOCK: &str = "SELECT GET_LOCK(CONCAT('counter:', ?), ?)";
const LOCK_TABLES: &str = "LOCK TABLES counter WRITE";

/// The statements that make each method what it is on MariaDB (its lock, its read, its
/// write), as this session sends them: what `/api/v1/info` and the live page show. A test
/// checks each against the statements a real run sends.
pub fn key_statements(method: MethodId) -> &'static [&'static str] {
    match method {
        MethodId::TableLock => &[LOCK_TABLES, SELECT, WRITE],
        MethodId::RowLock => &[SELECT_FOR_UPDATE, WRITE],
        MethodId::AtomicUpdate | MethodId::Coalesced => &[ADD, WRITTEN],
        MethodId::ReadModifyWrite | MethodId::InProcessLock => &[SELECT, WRITE],
        MethodId::Upsert => &[UPSERT, WRITTEN],
        MethodId::AdvisoryLock => &[GET_LOCK, SELECT, WRITE, RELEASE_LOCK],
        MethodId::CompareAndSwap => &[SELECT, SWAP],
        MethodId::Sharded => &[ADD_TO_SLOT],
        MethodId::Ledger => &[APPEND],
        MethodId::Custom => &[],
    }
}
const RELEASE_LOCK: &str = "SELECT RELEASE_LOCK(CONCAT('counter:', ?))";

/// How method 1 reads on MariaDB.
pub const TABLE_LOCK_SUMMARY: &str = "autocommit off, LOCK TABLES counter WRITE, get-or-create, read, write read+1, COMMIT, UNLOCK TABLES";
/// How method 6 reads on MariaDB.
pub const ADVISORY_LOCK_SUMMARY: &str =
    "GET_LOCK('counter:id') around a transaction: read, write read+1";

pooled_link!(MySql, MySqlConnection, MySqlQueryResult);

/// One increment's statements on one pooled connection.
pub struct MariaSession {
    wire: Wire<PoolConnection<MySql>>,
    /// With the scope `transaction`: `SET TRANSACTION ISOLATION LEVEL ...`, sent before each
    /// transaction (it sets the next one's level only).
    next_transaction: Option<&'static str>,
    /// A pool whose account may end this session's statement (`KILL QUERY`): the deadline of
    /// a user's script. None where nobody may.
    killer: Option<MySqlPool>,
    /// How long method 6's `GET_LOCK` waits, in whole seconds: the run's lock timeout (the
    /// explorer's `--lock-timeout`), else [`DEFAULT_LOCK_WAIT_S`].
    lock_wait_s: i64,
}

/// How long `GET_LOCK` waits when the run sets no lock timeout.
pub const DEFAULT_LOCK_WAIT_S: i64 = 10;

impl MariaSession {
    /// `on_node`: how to ask the connection's id (on a Galera cluster, with its node in it)
    /// and read its errors.
    pub fn new(
        conn: PoolConnection<MySql>,
        on_node: OnNode,
        next_transaction: Option<&'static str>,
        lock_wait_s: i64,
    ) -> MariaSession {
        let ask = ServerIdQuery::Ask(on_node.id_query);
        // Asked after each statement of a user's script; it opens no InnoDB read view.
        let wire = Wire::new(conn, on_node.errors, "START TRANSACTION", ask)
            .reporting_by("SELECT CAST(@@in_transaction AS SIGNED)");
        MariaSession {
            wire,
            next_transaction,
            killer: None,
            lock_wait_s,
        }
    }

    /// This session's statements can be ended through `pool` (see [`Session::canceller`]).
    pub fn killed_through(mut self, pool: MySqlPool) -> MariaSession {
        self.killer = Some(pool);
        self
    }

    /// Method 1's start: LOCK TABLES commits any open transaction, so autocommit goes off
    /// first; the next statement then opens a transaction, at the level set just before it.
    async fn lock_table(&mut self) -> Result<(), DbFailure> {
        self.wire
            .control("SET autocommit = 0", Effect::Local)
            .await?;
        self.wire.control(LOCK_TABLES, Effect::Writes).await?;
        if let Some(level) = self.next_transaction {
            self.wire.control(level, Effect::Local).await?;
        }
        Ok(())
    }

    /// Starts the transaction, at the run's level when only transactions get it.
    async fn start(&mut self) -> Result<(), DbFailure> {
        if let Some(level) = self.next_transaction {
            self.wire.control(level, Effect::Local).await?;
        }
        self.wire.control("START TRANSACTION", Effect::Local).await
    }

    /// Lets go of what the transaction's guard took: the table lock (and autocommit back on),
    /// or the named lock.
    async fn release(&mut self, guard: Guard, id: i64) -> Result<(), DbFailure> {
        match guard {
            Guard::Nothing => Ok(()),
            Guard::Table => {
                self.wire.control("UNLOCK TABLES", Effect::Releases).await?;
                self.wire.control("SET autocommit = 1", Effect::Local).await
            }
            Guard::Key => self
                .wire
                .scalar(RELEASE_LOCK, &[id], Effect::Releases)
                .await
                .map(drop),
        }
    }

    /// The count an `... LAST_INSERT_ID(count + 1)` wrote: read back on the connection.
    async fn last_insert_id(&mut self) -> Result<i64, DbFailure> {
        Ok(self
            .wire
            .scalar(WRITTEN, &[], Effect::Local)
            .await?
            .unwrap_or(0))
    }

    /// The count an `INSERT ... ON DUPLICATE KEY UPDATE count = LAST_INSERT_ID(count + 1)`
    /// wrote: 1 row affected means inserted with count 1; 2, updated, and the count is the id.
    async fn upserted(&mut self, sql: &'static str, binds: &[i64]) -> Result<i64, DbFailure> {
        if self.wire.written(sql, binds).await? == 1 {
            Ok(1)
        } else {
            self.last_insert_id().await
        }
    }

    /// The guard and key of the open transaction, if one is open.
    fn open_guard(&self) -> Option<(Guard, i64)> {
        match self.wire.tx() {
            Tx::Open(guard, id) => Some((guard, id)),
            Tx::Idle | Tx::Wrapped => None,
        }
    }
}

impl Session for MariaSession {
    async fn begin(&mut self, guard: Guard, id: i64) -> Result<(), IncrementError> {
        self.wire.opened(guard, id);
        let begun = match guard {
            Guard::Nothing => self.start().await,
            Guard::Table => self.lock_table().await,
            Guard::Key => match self
                .wire
                .scalar(GET_LOCK, &[id, self.lock_wait_s], Effect::Writes)
                .await
            {
                Ok(Some(1)) => self.start().await,
                Ok(_) => {
                    // Not granted: nothing is held.
                    self.wire.closed();
                    return Err(IncrementError::LockTimeout(self.lock_wait_s as u64));
                }
                Err(err) => Err(err),
            },
        };
        if let Err(err) = begun {
            self.rollback().await;
            return Err(err.into());
        }
        Ok(())
    }

    /// Once COMMIT succeeded the increment is applied, whatever happens next: a guard that
    /// cannot be let go afterwards is the connection's problem (it is closed instead of lent
    /// again, which lets go of its locks), not the request's.
    async fn commit(&mut self) -> Result<(), DbFailure> {
        let Some((guard, id)) = self.open_guard() else {
            return Ok(());
        };
        let committed = self.wire.control("COMMIT", Effect::Releases).await;
        if committed.is_err() {
            self.rollback().await;
            return committed;
        }
        match self.release(guard, id).await {
            Ok(()) => self.wire.closed(),
            Err(err) => {
                tracing::warn!(cause = %err, "committed, but the guard was not let go: closing the connection");
                self.wire.discard();
            }
        }
        Ok(())
    }

    async fn rollback(&mut self) {
        let Some((guard, id)) = self.open_guard() else {
            return;
        };
        let rolled_back = self.wire.control("ROLLBACK", Effect::Releases).await;
        if rolled_back.is_ok() && self.release(guard, id).await.is_ok() {
            self.wire.closed();
        }
    }

    async fn read(&mut self, id: i64, read: Read) -> Result<Option<i64>, DbFailure> {
        let (sql, effect) = match read {
            Read::Plain => (SELECT, Effect::Reads),
            Read::ForUpdate => (SELECT_FOR_UPDATE, Effect::Writes),
        };
        self.wire.scalar(sql, &[id], effect).await
    }

    async fn insert(&mut self, id: i64) -> Result<Inserted, DbFailure> {
        match self.wire.written(INSERT, &[id]).await {
            Ok(_) => Ok(Inserted::Created),
            Err(err) if err.code() == Some(errors::name_of(DUPLICATE_ENTRY)) => {
                Ok(Inserted::Exists(err))
            }
            Err(err) => Err(err),
        }
    }

    async fn write(&mut self, id: i64, value: i64) -> Result<u64, DbFailure> {
        // sqlx asks for found rows: matched rows count, even when the value is unchanged.
        self.wire.written(WRITE, &[value, id]).await
    }

    async fn swap(&mut self, id: i64, old: i64, new: i64) -> Result<u64, DbFailure> {
        self.wire.written(SWAP, &[new, id, old]).await
    }

    async fn add(&mut self, id: i64, by: i64) -> Result<Option<i64>, DbFailure> {
        // LAST_INSERT_ID() keeps its old value when nothing matched: check first.
        if self.wire.written(ADD, &[by, id]).await? == 0 {
            return Ok(None);
        }
        self.last_insert_id().await.map(Some)
    }

    async fn add_to_slot(&mut self, id: i64, slot: i64) -> Result<i64, DbFailure> {
        self.upserted(ADD_TO_SLOT, &[id, slot]).await
    }

    async fn append(&mut self, id: i64) -> Result<(), DbFailure> {
        self.wire.written(APPEND, &[id]).await.map(drop)
    }

    async fn upsert(&mut self, id: i64) -> Result<i64, DbFailure> {
        self.upserted(UPSERT, &[id]).await
    }

    const DIALECT: ScriptDialect = ScriptDialect::Mysql;

    async fn prepare_script(&mut self, sql: &str, params: usize) -> Result<Vec<String>, DbFailure> {
        self.wire.prepare(sql, params).await
    }

    /// The session's level. With the scope `transaction` the level is set for each
    /// transaction alone, which MariaDB does not show: None.
    async fn isolation_now(&mut self) -> Result<Option<Isolation>, DbFailure> {
        if self.next_transaction.is_some() {
            return Ok(None);
        }
        let shown = self.wire.inspect_text("SELECT @@tx_isolation").await?;
        // "REPEATABLE-READ" -> "repeatable read".
        let shown = shown.map(|level| level.to_lowercase().replace('-', " "));
        Ok(shown.as_deref().and_then(Isolation::from_sql_name))
    }

    async fn canceller(&mut self) -> Option<Canceller> {
        let id = self.wire.server_id().await.ok()??;
        let pool = self.killer.clone()?;
        Some(Arc::new(move || {
            let pool = pool.clone();
            Box::pin(async move {
                // The id is the server's own integer (a script runs on the first node).
                let kill = format!("KILL QUERY {id}");
                if let Err(err) = pool.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(kill))).await {
                    tracing::warn!(%err, id, "could not cancel a script's statement");
                }
            })
        }))
    }

    session_through_wire!();
}
