//! The methods' statements in PostgreSQL's SQL (also run by CockroachDB and YugabyteDB), on a
//! leased connection. Every statement goes through the session's [`Wire`].

use sqlx::Postgres;
use sqlx::postgres::{PgConnection, PgQueryResult};

use super::connections::Lease;
use super::errors::{self, UNIQUE_VIOLATION};
use crate::engines::wire::{Link, Reported, ServerIdQuery, Wire, session_through_wire};
use crate::methods::script::lex::ScriptDialect;
use crate::methods::{Canceller, Guard, Inserted, Read, Session};
use crate::model::statement::Effect;
use crate::model::{DbFailure, IncrementError, Isolation, MethodId};

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
const SAVEPOINT: &str = "SAVEPOINT counter_get_or_create";

/// The statements that make each method what it is on PostgreSQL (its lock, its read, its
/// write), as this session sends them: what `/api/v1/info` and the live page show. A test
/// checks each against the statements a real run sends.
pub fn key_statements(method: MethodId) -> &'static [&'static str] {
    match method {
        MethodId::TableLock => &[LOCK_TABLE, SELECT, WRITE],
        MethodId::RowLock => &[SELECT_FOR_UPDATE, WRITE],
        MethodId::AtomicUpdate | MethodId::Coalesced => &[ADD],
        MethodId::ReadModifyWrite | MethodId::InProcessLock => &[SELECT, WRITE],
        MethodId::Upsert => &[UPSERT],
        MethodId::AdvisoryLock => &[LOCK_KEY, SELECT, WRITE],
        MethodId::CompareAndSwap => &[SELECT, SWAP],
        MethodId::Sharded => &[ADD_TO_SLOT],
        MethodId::Ledger => &[APPEND],
        MethodId::Custom => &[],
    }
}
const RELEASE_SAVEPOINT: &str = "RELEASE SAVEPOINT counter_get_or_create";
const ROLLBACK_TO_SAVEPOINT: &str = "ROLLBACK TO SAVEPOINT counter_get_or_create";

impl Link for Lease {
    type Db = Postgres;

    fn connection(&mut self) -> &mut PgConnection {
        self
    }

    fn rows_written(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn failed(&mut self, err: &sqlx::Error) {
        self.check(err);
    }

    fn discard(&mut self) {
        Lease::discard(self);
    }

    fn forget_foreign(&mut self) {
        Lease::reset_before_reuse(self);
    }

    fn reported(&mut self) -> Option<Reported> {
        Lease::reported(self)
    }
}

/// One increment's statements on one leased connection.
pub struct PgSession {
    wire: Wire<Lease>,
    /// `BEGIN`, or `BEGIN ISOLATION LEVEL ...` (fixed text per level).
    begin: &'static str,
}

impl PgSession {
    /// `persistent`: whether statements may be named and kept on the connection (not
    /// through a transaction pooler, see `pooled.rs`).
    pub fn new(lease: Lease, begin: &'static str, persistent: bool) -> PgSession {
        let ask = ServerIdQuery::Ask("SELECT pg_backend_pid()");
        let wire = Wire::new(lease, &errors::TABLE, "BEGIN", ask);
        let wire = match persistent {
            true => wire,
            false => wire.through_transaction_pooler(),
        };
        PgSession { wire, begin }
    }
}

impl Session for PgSession {
    async fn begin(&mut self, guard: Guard, id: i64) -> Result<(), IncrementError> {
        self.wire.control(self.begin, Effect::Local).await?;
        self.wire.opened(guard, id);
        let guarded = match guard {
            Guard::Nothing => Ok(()),
            // Sent as a simple query: it has no parameters.
            Guard::Table => self.wire.control(LOCK_TABLE, Effect::Writes).await,
            Guard::Key => self
                .wire
                .scalar(LOCK_KEY, &[id], Effect::Writes)
                .await
                .map(drop),
        };
        if let Err(err) = guarded {
            self.rollback().await;
            return Err(err.into());
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), DbFailure> {
        let committed = self.wire.control("COMMIT", Effect::Releases).await;
        // Committed or not, the transaction is over: a failed COMMIT rolls back.
        self.wire.closed();
        committed
    }

    async fn rollback(&mut self) {
        self.wire.rollback().await;
    }

    async fn read(&mut self, id: i64, read: Read) -> Result<Option<i64>, DbFailure> {
        let (sql, effect) = match read {
            Read::Plain => (SELECT, Effect::Reads),
            Read::ForUpdate => (SELECT_FOR_UPDATE, Effect::Writes),
        };
        self.wire.scalar(sql, &[id], effect).await
    }

    /// Inside a transaction the insert runs in a savepoint, as Django's `get_or_create` does:
    /// a unique violation would otherwise abort the whole transaction.
    async fn insert(&mut self, id: i64) -> Result<Inserted, DbFailure> {
        let savepoint = self.wire.in_transaction();
        if savepoint {
            self.wire.control(SAVEPOINT, Effect::Local).await?;
        }
        match self.wire.written(INSERT, &[id]).await {
            Ok(_) => {
                if savepoint {
                    self.wire.control(RELEASE_SAVEPOINT, Effect::Local).await?;
                }
                Ok(Inserted::Created)
            }
            Err(err) if err.code() == Some(UNIQUE_VIOLATION) => {
                if savepoint {
                    // Lets go of what the failed insert took: another session may go on.
                    let undo = self.wire.control(ROLLBACK_TO_SAVEPOINT, Effect::Releases);
                    undo.await?;
                }
                Ok(Inserted::Exists(err))
            }
            Err(err) => Err(err),
        }
    }

    async fn write(&mut self, id: i64, value: i64) -> Result<u64, DbFailure> {
        self.wire.written(WRITE, &[id, value]).await
    }

    async fn swap(&mut self, id: i64, old: i64, new: i64) -> Result<u64, DbFailure> {
        self.wire.written(SWAP, &[id, old, new]).await
    }

    async fn add(&mut self, id: i64, by: i64) -> Result<Option<i64>, DbFailure> {
        self.wire.scalar(ADD, &[id, by], Effect::Writes).await
    }

    async fn add_to_slot(&mut self, id: i64, slot: i64) -> Result<i64, DbFailure> {
        self.wire.count_written(ADD_TO_SLOT, &[id, slot]).await
    }

    async fn append(&mut self, id: i64) -> Result<(), DbFailure> {
        self.wire.written(APPEND, &[id]).await.map(drop)
    }

    async fn upsert(&mut self, id: i64) -> Result<i64, DbFailure> {
        self.wire.count_written(UPSERT, &[id]).await
    }

    const DIALECT: ScriptDialect = ScriptDialect::Postgres;

    /// Through a transaction pooler the statement is prepared, and deallocated, inside a
    /// transaction of its own: on one server connection, leaving nothing there for the next
    /// client (sqlx names every prepared statement). The transaction is rolled back whatever
    /// failed, and the session counts as inside it until then.
    async fn prepare_script(&mut self, sql: &str, params: usize) -> Result<Vec<String>, DbFailure> {
        if self.wire.persistent() {
            return self.wire.prepare(sql, params).await;
        }
        self.wire.control("BEGIN", Effect::Local).await?;
        self.wire.opened(Guard::Nothing, 0);
        let prepared = self.wire.prepare(sql, params).await;
        let deallocated = self.wire.control("DEALLOCATE ALL", Effect::Local).await;
        self.rollback().await;
        let columns = prepared?;
        deallocated.map(|()| columns)
    }

    /// `SHOW` takes no snapshot: asking does not move a repeatable read transaction's.
    async fn isolation_now(&mut self) -> Result<Option<Isolation>, DbFailure> {
        let shown = self.wire.inspect_text("SHOW transaction_isolation").await?;
        Ok(shown.as_deref().and_then(Isolation::from_sql_name))
    }

    async fn canceller(&mut self) -> Option<Canceller> {
        self.wire.link().canceller()
    }

    session_through_wire!();
}
