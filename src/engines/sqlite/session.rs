//! The methods' statements on SQLite. SQLite has one writer at a time and no row or advisory
//! locks: its table lock is `BEGIN IMMEDIATE` (the database's write lock, taken before
//! anything is read; a plain deferred `BEGIN` reads first and must upgrade later), and the
//! methods that need the other two are not applicable (see `capabilities.rs`).

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Executor, Sqlite};

use super::capabilities::{NO_ADVISORY_LOCKS, NO_ROW_LOCKS};
use super::errors;
use crate::engines::scripts;
use crate::methods::{Guard, Inserted, Placeholders, Read, ScriptRows, Session};
use crate::model::{DbFailure, ErrorClass, IncrementError};

const SELECT: &str = "SELECT count FROM counter WHERE id = ?1";
const INSERT: &str = "INSERT INTO counter (id, count) VALUES (?1, 0)";
const WRITE: &str = "UPDATE counter SET count = ?2 WHERE id = ?1";
const SWAP: &str = "UPDATE counter SET count = ?3 WHERE id = ?1 AND count = ?2";
const ADD: &str = "UPDATE counter SET count = count + ?2 WHERE id = ?1 RETURNING count";
const ADD_TO_SLOT: &str = "INSERT INTO counter_shard (id, slot, count) VALUES (?1, ?2, 1) \
     ON CONFLICT (id, slot) DO UPDATE SET count = count + 1 RETURNING count";
const APPEND: &str = "INSERT INTO counter_ledger (id) VALUES (?1)";
const UPSERT: &str = "INSERT INTO counter (id, count) VALUES (?1, 1) \
     ON CONFLICT (id) DO UPDATE SET count = count + 1 RETURNING count";

/// How method 1 reads on SQLite.
pub const TABLE_LOCK_SUMMARY: &str =
    "BEGIN IMMEDIATE (SQLite's database write lock) first, then get-or-create, read, write read+1";

/// One increment's statements on one pooled connection.
pub struct SqliteSession {
    conn: PoolConnection<Sqlite>,
    in_transaction: bool,
}

impl SqliteSession {
    pub fn new(conn: PoolConnection<Sqlite>) -> SqliteSession {
        SqliteSession {
            conn,
            in_transaction: false,
        }
    }

    async fn simple(&mut self, sql: &'static str) -> Result<(), DbFailure> {
        let done = self.conn.execute(sqlx::raw_sql(sql)).await;
        done.map(|_| ()).map_err(|err| errors::classify(&err))
    }

    async fn rows(
        &mut self,
        query: sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> Result<u64, DbFailure> {
        let done = query.execute(&mut *self.conn).await;
        done.map(|d| d.rows_affected())
            .map_err(|err| errors::classify(&err))
    }
}

impl Session for SqliteSession {
    async fn begin(&mut self, guard: Guard, _id: i64) -> Result<(), IncrementError> {
        let begin = match guard {
            Guard::Nothing => "BEGIN",
            Guard::Table => "BEGIN IMMEDIATE",
            Guard::Key => {
                return Err(IncrementError::NotApplicable(NO_ADVISORY_LOCKS.to_string()));
            }
        };
        self.simple(begin).await?;
        self.in_transaction = true;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), DbFailure> {
        let committed = self.simple("COMMIT").await;
        if committed.is_err() {
            self.rollback().await;
            return committed;
        }
        self.in_transaction = false;
        Ok(())
    }

    async fn rollback(&mut self) {
        if self.simple("ROLLBACK").await.is_ok() {
            self.in_transaction = false;
        }
    }

    async fn read(&mut self, id: i64, read: Read) -> Result<Option<i64>, DbFailure> {
        if read == Read::ForUpdate {
            return Err(DbFailure {
                class: ErrorClass::Internal,
                message: NO_ROW_LOCKS.to_string(),
                detail: NO_ROW_LOCKS.to_string(),
            });
        }
        let found = sqlx::query_scalar(SELECT)
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
        self.rows(sqlx::query(WRITE).bind(id).bind(value)).await
    }

    async fn swap(&mut self, id: i64, old: i64, new: i64) -> Result<u64, DbFailure> {
        self.rows(sqlx::query(SWAP).bind(id).bind(old).bind(new))
            .await
    }

    async fn add(&mut self, id: i64, by: i64) -> Result<Option<i64>, DbFailure> {
        let written = sqlx::query_scalar(ADD)
            .bind(id)
            .bind(by)
            .fetch_optional(&mut *self.conn)
            .await;
        written.map_err(|err| errors::classify(&err))
    }

    async fn add_to_slot(&mut self, id: i64, slot: i64) -> Result<i64, DbFailure> {
        let written = sqlx::query_scalar(ADD_TO_SLOT)
            .bind(id)
            .bind(slot)
            .fetch_one(&mut *self.conn)
            .await;
        written.map_err(|err| errors::classify(&err))
    }

    async fn append(&mut self, id: i64) -> Result<(), DbFailure> {
        self.rows(sqlx::query(APPEND).bind(id)).await.map(|_| ())
    }

    async fn upsert(&mut self, id: i64) -> Result<i64, DbFailure> {
        let written = sqlx::query_scalar(UPSERT)
            .bind(id)
            .fetch_one(&mut *self.conn)
            .await;
        written.map_err(|err| errors::classify(&err))
    }

    const PLACEHOLDERS: Placeholders = Placeholders::Positional;

    async fn prepare_script(&mut self, sql: &str, params: usize) -> Result<Vec<String>, DbFailure> {
        let prepared = scripts::prepare::<Sqlite>(&mut self.conn, sql, params).await;
        prepared.map_err(|err| errors::classify(&err))
    }

    async fn run_script(
        &mut self,
        sql: &str,
        binds: &[Option<i64>],
        fetch: bool,
    ) -> Result<ScriptRows, DbFailure> {
        let rows_written = SqliteQueryResult::rows_affected;
        let ran =
            scripts::run::<Sqlite>(&mut self.conn, sql, binds, fetch, true, rows_written).await;
        ran.map_err(|err| errors::classify(&err))
    }
}

impl Drop for SqliteSession {
    /// Dropped mid-transaction: the connection is closed (SQLite rolls back), not reused.
    fn drop(&mut self) {
        if self.in_transaction {
            self.conn.close_on_drop();
        }
    }
}
