//! The methods' statements on MariaDB (InnoDB). Where MariaDB needs them done differently:
//! - table lock: `LOCK TABLES ... WRITE` commits any open transaction and only works with
//!   autocommit off, so it is `SET autocommit = 0`, `LOCK TABLES`, work, `COMMIT`,
//!   `UNLOCK TABLES` (the order MariaDB's manual prescribes).
//! - `UPDATE` has no `RETURNING`: the count written is read back with the
//!   `LAST_INSERT_ID(expr)` idiom, which is per connection.
//! - advisory lock: `GET_LOCK` is held by the session, not the transaction: taken before the
//!   transaction, released after it.
//! - a failed INSERT (duplicate key) aborts only its statement: no savepoint is needed.

use sqlx::mysql::MySqlQueryResult;
use sqlx::pool::PoolConnection;
use sqlx::{Executor, MySql};

use super::errors;
use crate::engines::scripts;
use crate::methods::{Guard, Inserted, Placeholders, Read, ScriptRows, Session};
use crate::model::{DbFailure, IncrementError};

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
const WRITTEN: &str = "SELECT LAST_INSERT_ID()";
const GET_LOCK: &str = "SELECT GET_LOCK(CONCAT('counter:', ?), 10)";
const RELEASE_LOCK: &str = "SELECT RELEASE_LOCK(CONCAT('counter:', ?))";

/// How method 1 reads on MariaDB.
pub const TABLE_LOCK_SUMMARY: &str = "autocommit off, LOCK TABLES counter WRITE, get-or-create, read, write read+1, COMMIT, UNLOCK TABLES";
/// How method 6 reads on MariaDB.
pub const ADVISORY_LOCK_SUMMARY: &str =
    "GET_LOCK('counter:id') around a transaction: read, write read+1";

/// One increment's statements on one pooled connection.
pub struct MariaSession {
    conn: PoolConnection<MySql>,
    /// With the scope `transaction`: `SET TRANSACTION ISOLATION LEVEL ...`, sent before each
    /// transaction (it sets the next one's level only).
    next_transaction: Option<&'static str>,
    /// The open transaction's guard and key, until it is committed or rolled back.
    open: Option<(Guard, i64)>,
}

impl MariaSession {
    pub fn new(
        conn: PoolConnection<MySql>,
        next_transaction: Option<&'static str>,
    ) -> MariaSession {
        MariaSession {
            conn,
            next_transaction,
            open: None,
        }
    }

    /// Method 1's start: LOCK TABLES commits any open transaction, so autocommit goes off
    /// first; the next statement then opens a transaction, at the level set just before it.
    async fn lock_table(&mut self) -> Result<(), DbFailure> {
        self.simple("SET autocommit = 0").await?;
        self.simple("LOCK TABLES counter WRITE").await?;
        if let Some(level) = self.next_transaction {
            self.simple(level).await?;
        }
        Ok(())
    }

    /// Starts the transaction, at the run's level when only transactions get it.
    async fn start(&mut self) -> Result<(), DbFailure> {
        if let Some(level) = self.next_transaction {
            self.simple(level).await?;
        }
        self.simple("START TRANSACTION").await
    }

    async fn simple(&mut self, sql: &'static str) -> Result<(), DbFailure> {
        let done = self.conn.execute(sqlx::raw_sql(sql)).await;
        done.map(|_| ()).map_err(|err| errors::classify(&err))
    }

    /// Lets go of what the transaction's guard took: the table lock (and autocommit back on),
    /// or the named lock.
    async fn release(&mut self, guard: Guard, id: i64) -> Result<(), DbFailure> {
        match guard {
            Guard::Nothing => Ok(()),
            Guard::Table => {
                self.simple("UNLOCK TABLES").await?;
                self.simple("SET autocommit = 1").await
            }
            Guard::Key => {
                let done = sqlx::query(RELEASE_LOCK)
                    .bind(id)
                    .execute(&mut *self.conn)
                    .await;
                done.map(|_| ()).map_err(|err| errors::classify(&err))
            }
        }
    }

    async fn last_insert_id(&mut self) -> Result<i64, DbFailure> {
        let value: Result<u64, _> = sqlx::query_scalar(WRITTEN).fetch_one(&mut *self.conn).await;
        value
            .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
            .map_err(|err| errors::classify(&err))
    }

    /// The count an `INSERT ... ON DUPLICATE KEY UPDATE count = LAST_INSERT_ID(count + 1)`
    /// wrote: 1 row affected means inserted with count 1; 2, updated, and the count is the id.
    async fn upserted(
        &mut self,
        query: sqlx::query::Query<'_, MySql, sqlx::mysql::MySqlArguments>,
    ) -> Result<i64, DbFailure> {
        if self.rows(query).await? == 1 {
            Ok(1)
        } else {
            self.last_insert_id().await
        }
    }

    async fn rows(
        &mut self,
        query: sqlx::query::Query<'_, MySql, sqlx::mysql::MySqlArguments>,
    ) -> Result<u64, DbFailure> {
        let done = query.execute(&mut *self.conn).await;
        done.map(|d| d.rows_affected())
            .map_err(|err| errors::classify(&err))
    }
}

impl Session for MariaSession {
    async fn begin(&mut self, guard: Guard, id: i64) -> Result<(), IncrementError> {
        self.open = Some((guard, id));
        let begun = match guard {
            Guard::Nothing => self.start().await,
            Guard::Table => self.lock_table().await,
            Guard::Key => {
                let got: Result<Option<i64>, _> = sqlx::query_scalar(GET_LOCK)
                    .bind(id)
                    .fetch_one(&mut *self.conn)
                    .await;
                match got.map_err(|err| errors::classify(&err))? {
                    Some(1) => self.start().await,
                    _ => {
                        self.open = None;
                        return Err(IncrementError::LockTimeout);
                    }
                }
            }
        };
        if let Err(err) = begun {
            self.rollback().await;
            return Err(err.into());
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), DbFailure> {
        let Some((guard, id)) = self.open else {
            return Ok(());
        };
        let committed = self.simple("COMMIT").await;
        if committed.is_err() {
            self.rollback().await;
            return committed;
        }
        self.release(guard, id).await?;
        self.open = None;
        Ok(())
    }

    async fn rollback(&mut self) {
        let Some((guard, id)) = self.open else {
            return;
        };
        let rolled_back = self.simple("ROLLBACK").await;
        if rolled_back.is_ok() && self.release(guard, id).await.is_ok() {
            self.open = None;
        }
    }

    async fn read(&mut self, id: i64, read: Read) -> Result<Option<i64>, DbFailure> {
        let sql = match read {
            Read::Plain => SELECT,
            Read::ForUpdate => SELECT_FOR_UPDATE,
        };
        let found = sqlx::query_scalar(sql)
            .bind(id)
            .fetch_optional(&mut *self.conn)
            .await;
        found.map_err(|err| errors::classify(&err))
    }

    async fn insert(&mut self, id: i64) -> Result<Inserted, DbFailure> {
        match sqlx::query(INSERT).bind(id).execute(&mut *self.conn).await {
            Ok(_) => Ok(Inserted::Created),
            Err(err) if errors::is_duplicate(&err) => Ok(Inserted::Exists(errors::classify(&err))),
            Err(err) => Err(errors::classify(&err)),
        }
    }

    async fn write(&mut self, id: i64, value: i64) -> Result<u64, DbFailure> {
        // sqlx asks for found rows: matched rows count, even when the value is unchanged.
        self.rows(sqlx::query(WRITE).bind(value).bind(id)).await
    }

    async fn swap(&mut self, id: i64, old: i64, new: i64) -> Result<u64, DbFailure> {
        self.rows(sqlx::query(SWAP).bind(new).bind(id).bind(old))
            .await
    }

    async fn add(&mut self, id: i64, by: i64) -> Result<Option<i64>, DbFailure> {
        // LAST_INSERT_ID() keeps its old value when nothing matched: check first.
        if self.rows(sqlx::query(ADD).bind(by).bind(id)).await? == 0 {
            return Ok(None);
        }
        self.last_insert_id().await.map(Some)
    }

    async fn add_to_slot(&mut self, id: i64, slot: i64) -> Result<i64, DbFailure> {
        self.upserted(sqlx::query(ADD_TO_SLOT).bind(id).bind(slot))
            .await
    }

    async fn append(&mut self, id: i64) -> Result<(), DbFailure> {
        self.rows(sqlx::query(APPEND).bind(id)).await.map(|_| ())
    }

    async fn upsert(&mut self, id: i64) -> Result<i64, DbFailure> {
        self.upserted(sqlx::query(UPSERT).bind(id)).await
    }

    const PLACEHOLDERS: Placeholders = Placeholders::Positional;

    async fn prepare_script(&mut self, sql: &str, params: usize) -> Result<Vec<String>, DbFailure> {
        let prepared = scripts::prepare::<MySql>(&mut self.conn, sql, params).await;
        prepared.map_err(|err| errors::classify(&err))
    }

    async fn run_script(
        &mut self,
        sql: &str,
        binds: &[Option<i64>],
        fetch: bool,
    ) -> Result<ScriptRows, DbFailure> {
        let rows_written = MySqlQueryResult::rows_affected;
        let ran =
            scripts::run::<MySql>(&mut self.conn, sql, binds, fetch, true, rows_written).await;
        ran.map_err(|err| errors::classify(&err))
    }
}

impl Drop for MariaSession {
    /// A session dropped with its transaction (or a lock) still open closes its connection
    /// instead of giving it back: the server rolls back and lets go of the locks.
    fn drop(&mut self) {
        if self.open.is_some() {
            self.conn.close_on_drop();
        }
    }
}
