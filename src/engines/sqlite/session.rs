//! The methods' statements on SQLite, every one through the session's [`Wire`]. SQLite has
//! one writer at a time and no row or advisory locks: its table lock is `BEGIN IMMEDIATE` (the
//! database's write lock, taken before anything is read; a plain deferred `BEGIN` reads first
//! and must upgrade later), and the methods that need the other two are not applicable (see
//! `capabilities.rs`).

use sqlx::Sqlite;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnection, SqliteQueryResult};

use std::sync::Arc;

use super::capabilities::{NO_ADVISORY_LOCKS, NO_ROW_LOCKS};
use super::confine::RawHandle;
use super::errors;
use crate::engines::wire::{Link, Reported, ServerIdQuery, Wire, session_through_wire};
use crate::methods::script::lex::ScriptDialect;
use crate::methods::{Canceller, Guard, Inserted, Read, Session};
use crate::model::statement::Effect;
use crate::model::{DbFailure, ErrorClass, IncrementError, Isolation, MethodId, Refusal};

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

const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

/// The statements that make each method what it is on SQLite (its lock, its read, its write),
/// as this session sends them: what `/api/v1/info` and the live page show; none for the
/// methods SQLite cannot express. A test checks each against the statements a real run sends.
pub fn key_statements(method: MethodId) -> &'static [&'static str] {
    match method {
        MethodId::TableLock => &[BEGIN_IMMEDIATE, SELECT, WRITE],
        MethodId::AtomicUpdate | MethodId::Coalesced => &[ADD],
        MethodId::ReadModifyWrite | MethodId::InProcessLock => &[SELECT, WRITE],
        MethodId::Upsert => &[UPSERT],
        MethodId::CompareAndSwap => &[SELECT, SWAP],
        MethodId::Sharded => &[ADD_TO_SLOT],
        MethodId::Ledger => &[APPEND],
        MethodId::RowLock | MethodId::AdvisoryLock | MethodId::Custom => &[],
    }
}

/// How method 1 reads on SQLite.
pub const TABLE_LOCK_SUMMARY: &str =
    "BEGIN IMMEDIATE (SQLite's database write lock) first, then get-or-create, read, write read+1";

/// A pooled connection, and its handle when it was lent to a user's script (confined, see
/// `confine.rs`).
pub struct SqliteLink {
    conn: PoolConnection<Sqlite>,
    handle: Option<RawHandle>,
}

impl Link for SqliteLink {
    type Db = Sqlite;

    fn connection(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    fn rows_written(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn discard(&mut self) {
        self.conn.close_on_drop();
    }

    /// SQLite's autocommit flag, read off the connection: no statement is sent.
    fn reported(&mut self) -> Option<Reported> {
        let handle = self.handle?;
        Some(Reported {
            open: handle.in_transaction(),
            control: Vec::new(),
        })
    }
}

/// One increment's statements on one pooled connection.
pub struct SqliteSession {
    wire: Wire<SqliteLink>,
}

impl SqliteSession {
    pub fn new(conn: PoolConnection<Sqlite>) -> SqliteSession {
        let link = SqliteLink { conn, handle: None };
        let wire = Wire::new(link, &errors::TABLE, "BEGIN", ServerIdQuery::None);
        SqliteSession { wire }
    }

    /// A session for a user's script on `conn`, confined (its authorizer installed): the
    /// connection is closed after it, whatever the script sent.
    pub fn confined(conn: PoolConnection<Sqlite>, handle: RawHandle) -> SqliteSession {
        let link = SqliteLink {
            conn,
            handle: Some(handle),
        };
        let mut wire = Wire::new(link, &errors::TABLE, "BEGIN", ServerIdQuery::None);
        wire.serves_foreign();
        SqliteSession { wire }
    }
}

impl Session for SqliteSession {
    async fn begin(&mut self, guard: Guard, id: i64) -> Result<(), IncrementError> {
        let (begin, effect) = match guard {
            Guard::Nothing => ("BEGIN", Effect::Local),
            // Takes the database's write lock: another writer waits for it.
            Guard::Table => (BEGIN_IMMEDIATE, Effect::Writes),
            Guard::Key => {
                let reason = format!("this engine cannot run the method: {NO_ADVISORY_LOCKS}");
                return Err(IncrementError::NotApplicable(reason));
            }
        };
        self.wire.opened(guard, id);
        if let Err(err) = self.wire.control(begin, effect).await {
            // A BEGIN that failed opened nothing.
            self.wire.closed();
            return Err(err.into());
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), DbFailure> {
        let committed = self.wire.control("COMMIT", Effect::Releases).await;
        if committed.is_err() {
            // A COMMIT refused as BUSY leaves the transaction open.
            self.rollback().await;
            return committed;
        }
        self.wire.closed();
        Ok(())
    }

    async fn rollback(&mut self) {
        self.wire.rollback().await;
    }

    async fn read(&mut self, id: i64, read: Read) -> Result<Option<i64>, DbFailure> {
        if read == Read::ForUpdate {
            return Err(DbFailure::ours(ErrorClass::Internal, NO_ROW_LOCKS));
        }
        self.wire.scalar(SELECT, &[id], Effect::Reads).await
    }

    async fn insert(&mut self, id: i64) -> Result<Inserted, DbFailure> {
        match self.wire.written(INSERT, &[id]).await {
            Ok(_) => Ok(Inserted::Created),
            Err(err) if err.refusal() == Some(Refusal::Duplicate) => Ok(Inserted::Exists(err)),
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

    const DIALECT: ScriptDialect = ScriptDialect::Sqlite;

    async fn prepare_script(&mut self, sql: &str, params: usize) -> Result<Vec<String>, DbFailure> {
        self.wire.prepare(sql, params).await
    }

    /// SQLite runs every transaction serializable.
    async fn isolation_now(&mut self) -> Result<Option<Isolation>, DbFailure> {
        Ok(None)
    }

    async fn canceller(&mut self) -> Option<Canceller> {
        let handle = self.wire.link().handle?;
        Some(Arc::new(move || {
            handle.interrupt();
            Box::pin(async {})
        }))
    }

    session_through_wire!();
}
