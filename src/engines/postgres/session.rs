//! The methods' statements in PostgreSQL's SQL (also run by CockroachDB and YugabyteDB), on a
//! leased connection.

use sqlx::postgres::PgQueryResult;
use sqlx::{PgConnection, Postgres};

use super::connections::Lease;
use super::errors::{self, UNIQUE_VIOLATION};
use crate::engines::scripts;
use crate::methods::{Guard, Inserted, Placeholders, Read, ScriptRows, Session};
use crate::model::{DbFailure, IncrementError};

/// Method 1's guard, which the engine probes also try.
pub const LOCK_TABLE: &str = "LOCK TABLE counter IN EXCLUSIVE MODE";
/// Method 6's guard, which the engine probes also try.
pub const LOCK_KEY: &str = "SELECT pg_advisory_xact_lock($1)";

const SELECT: &str = "SELECT count FROM counter WHERE id = $1";
const SELECT_FOR_UPDATE: &str = "SELECT count FROM counter WHERE id = $1 FOR UPDATE";
const INSERT: &str = "INSERT INTO counter (id, count) VALUES ($1, 0)";
const WRITE: &str = "UPDATE counter SET count = $2 WHERE id = $1";
const SWAP: &str = "UPDATE counter SET count = $3 WHERE id = $1 AND count = $2";
const ADD: &str = "UPDATE counter SET count = count + $2 WHERE id = $1 RETURNING count";
const ADD_TO_SLOT: &str = "INSERT INTO counter_shard (id, slot, count) VALUES ($1, $2, 1) \
     ON CONFLICT (id, slot) DO UPDATE SET count = counter_shard.count + 1 RETURNING count";
const APPEND: &str = "INSERT INTO counter_ledger (id) VALUES ($1)";
const UPSERT: &str = "INSERT INTO counter (id, count) VALUES ($1, 1) \
     ON CONFLICT (id) DO UPDATE SET count = counter.count + 1 RETURNING count";

/// One increment's statements on one leased connection.
pub struct PgSession {
    lease: Lease,
    /// `BEGIN`, or `BEGIN ISOLATION LEVEL ...` (fixed text per level).
    begin: &'static str,
    in_transaction: bool,
    /// Whether statements may be named and kept on the connection (not through a
    /// transaction pooler, see `pooled.rs`).
    persistent: bool,
    /// Inside the transaction [`PgSession::pin`] opened around one statement.
    pinned: bool,
}

impl PgSession {
    pub fn new(lease: Lease, begin: &'static str, persistent: bool) -> PgSession {
        PgSession {
            lease,
            begin,
            in_transaction: false,
            persistent,
            pinned: false,
        }
    }

    fn conn(&mut self) -> &mut PgConnection {
        &mut self.lease
    }

    /// Classifies `err`, and marks the connection for dropping when it failed as a whole.
    fn fail(&mut self, err: sqlx::Error) -> DbFailure {
        self.lease.check(&err);
        errors::classify(&err)
    }

    /// Through a transaction pooler, a statement outside a transaction gets one of its own
    /// (`BEGIN` at the session's level, the statement, `COMMIT`: what autocommit does). sqlx
    /// sends a statement in two round trips, parse and then bind-and-execute, and between them
    /// the pooler may lend the server connection to another client: the statement would then
    /// be missing, or another client's unnamed statement run with our values. Returns whether
    /// it opened one.
    async fn pin(&mut self) -> Result<bool, DbFailure> {
        if self.persistent || self.in_transaction {
            return Ok(false);
        }
        self.simple("BEGIN").await?;
        self.pinned = true;
        Ok(true)
    }

    /// Ends the transaction [`PgSession::pin`] opened (a failed statement's is rolled back by
    /// the COMMIT, which then answers ROLLBACK); the statement's result, or the commit's error.
    async fn unpin<T>(
        &mut self,
        pinned: bool,
        result: Result<T, DbFailure>,
    ) -> Result<T, DbFailure> {
        if !pinned {
            return result;
        }
        let committed = self.simple("COMMIT").await;
        self.pinned = false;
        let value = result?;
        committed.map(|()| value)
    }

    async fn simple(&mut self, sql: &'static str) -> Result<(), DbFailure> {
        let result = sqlx::raw_sql(sql).execute(self.conn()).await;
        result.map(|_| ()).map_err(|err| self.fail(err))
    }
}

impl Session for PgSession {
    async fn begin(&mut self, guard: Guard, id: i64) -> Result<(), IncrementError> {
        self.simple(self.begin).await?;
        self.in_transaction = true;
        let guarded = match guard {
            Guard::Nothing => Ok(()),
            // Sent as a simple query: it has no parameters.
            Guard::Table => self.simple(LOCK_TABLE).await,
            Guard::Key => {
                let locked = sqlx::query(LOCK_KEY)
                    .persistent(self.persistent)
                    .bind(id)
                    .execute(self.conn())
                    .await;
                locked.map(|_| ()).map_err(|err| self.fail(err))
            }
        };
        if let Err(err) = guarded {
            self.rollback().await;
            return Err(err.into());
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), DbFailure> {
        let committed = self.simple("COMMIT").await;
        // Committed or not, the transaction is over: a failed COMMIT rolls back.
        self.in_transaction = false;
        committed
    }

    async fn rollback(&mut self) {
        if self.simple("ROLLBACK").await.is_ok() {
            self.in_transaction = false;
        }
    }

    async fn read(&mut self, id: i64, read: Read) -> Result<Option<i64>, DbFailure> {
        let pinned = self.pin().await?;
        let result = async {
            let sql = match read {
                Read::Plain => SELECT,
                Read::ForUpdate => SELECT_FOR_UPDATE,
            };
            let found = sqlx::query_scalar(sql)
                .persistent(self.persistent)
                .bind(id)
                .fetch_optional(self.conn())
                .await;
            found.map_err(|err| self.fail(err))
        }
        .await;
        self.unpin(pinned, result).await
    }

    /// Inside a transaction the insert runs in a savepoint, as Django's `get_or_create` does:
    /// a unique violation would otherwise abort the whole transaction.
    async fn insert(&mut self, id: i64) -> Result<Inserted, DbFailure> {
        let pinned = self.pin().await?;
        let result = async {
            let savepoint = self.in_transaction;
            if savepoint {
                self.simple("SAVEPOINT counter_get_or_create").await?;
            }
            let inserted = sqlx::query(INSERT)
                .persistent(self.persistent)
                .bind(id)
                .execute(self.conn())
                .await;
            match inserted {
                Ok(_) => {
                    if savepoint {
                        self.simple("RELEASE SAVEPOINT counter_get_or_create")
                            .await?;
                    }
                    Ok(Inserted::Created)
                }
                Err(err) if errors::sqlstate(&err).as_deref() == Some(UNIQUE_VIOLATION) => {
                    if savepoint {
                        self.simple("ROLLBACK TO SAVEPOINT counter_get_or_create")
                            .await?;
                    }
                    Ok(Inserted::Exists(errors::classify(&err)))
                }
                Err(err) => Err(self.fail(err)),
            }
        }
        .await;
        self.unpin(pinned, result).await
    }

    async fn write(&mut self, id: i64, value: i64) -> Result<u64, DbFailure> {
        let pinned = self.pin().await?;
        let result = async {
            let done = sqlx::query(WRITE)
                .persistent(self.persistent)
                .bind(id)
                .bind(value)
                .execute(self.conn())
                .await;
            done.map(|d| d.rows_affected())
                .map_err(|err| self.fail(err))
        }
        .await;
        self.unpin(pinned, result).await
    }

    async fn swap(&mut self, id: i64, old: i64, new: i64) -> Result<u64, DbFailure> {
        let pinned = self.pin().await?;
        let result = async {
            let done = sqlx::query(SWAP)
                .persistent(self.persistent)
                .bind(id)
                .bind(old)
                .bind(new)
                .execute(self.conn())
                .await;
            done.map(|d| d.rows_affected())
                .map_err(|err| self.fail(err))
        }
        .await;
        self.unpin(pinned, result).await
    }

    async fn add(&mut self, id: i64, by: i64) -> Result<Option<i64>, DbFailure> {
        let pinned = self.pin().await?;
        let result = async {
            let written = sqlx::query_scalar(ADD)
                .persistent(self.persistent)
                .bind(id)
                .bind(by)
                .fetch_optional(self.conn())
                .await;
            written.map_err(|err| self.fail(err))
        }
        .await;
        self.unpin(pinned, result).await
    }

    async fn add_to_slot(&mut self, id: i64, slot: i64) -> Result<i64, DbFailure> {
        let pinned = self.pin().await?;
        let result = async {
            let slot = i32::try_from(slot).unwrap_or(0);
            let written = sqlx::query_scalar(ADD_TO_SLOT)
                .persistent(self.persistent)
                .bind(id)
                .bind(slot)
                .fetch_one(self.conn())
                .await;
            written.map_err(|err| self.fail(err))
        }
        .await;
        self.unpin(pinned, result).await
    }

    async fn append(&mut self, id: i64) -> Result<(), DbFailure> {
        let pinned = self.pin().await?;
        let result = async {
            let done = sqlx::query(APPEND)
                .persistent(self.persistent)
                .bind(id)
                .execute(self.conn())
                .await;
            done.map(|_| ()).map_err(|err| self.fail(err))
        }
        .await;
        self.unpin(pinned, result).await
    }

    async fn upsert(&mut self, id: i64) -> Result<i64, DbFailure> {
        let pinned = self.pin().await?;
        let result = async {
            let written = sqlx::query_scalar(UPSERT)
                .persistent(self.persistent)
                .bind(id)
                .fetch_one(self.conn())
                .await;
            written.map_err(|err| self.fail(err))
        }
        .await;
        self.unpin(pinned, result).await
    }

    const PLACEHOLDERS: Placeholders = Placeholders::Numbered;

    /// Through a transaction pooler the statement is prepared, and deallocated, inside a
    /// transaction of its own: on one server connection, leaving nothing there for the next
    /// client (sqlx names every prepared statement).
    async fn prepare_script(&mut self, sql: &str, params: usize) -> Result<Vec<String>, DbFailure> {
        if self.persistent {
            let prepared = scripts::prepare::<Postgres>(self.conn(), sql, params).await;
            return prepared.map_err(|err| self.fail(err));
        }
        self.simple("BEGIN").await?;
        let prepared = scripts::prepare::<Postgres>(self.conn(), sql, params).await;
        let prepared = prepared.map_err(|err| self.fail(err));
        if prepared.is_ok() {
            self.simple("DEALLOCATE ALL").await?;
        }
        self.simple("ROLLBACK").await?;
        prepared
    }

    async fn run_script(
        &mut self,
        sql: &str,
        binds: &[Option<i64>],
        fetch: bool,
    ) -> Result<ScriptRows, DbFailure> {
        let pinned = self.pin().await?;
        let result = async {
            let rows_written = PgQueryResult::rows_affected;
            let persistent = self.persistent;
            let ran =
                scripts::run::<Postgres>(self.conn(), sql, binds, fetch, persistent, rows_written)
                    .await;
            ran.map_err(|err| self.fail(err))
        }
        .await;
        self.unpin(pinned, result).await
    }
}

impl Drop for PgSession {
    /// A session dropped mid-transaction (its task was cancelled) leaves the connection inside
    /// that transaction: it is closed instead of lent again, and PostgreSQL rolls back.
    fn drop(&mut self) {
        if self.in_transaction || self.pinned {
            self.lease.discard();
        }
    }
}
