//! The one path every statement of a session takes, on every engine: [`Wire::send`] has the
//! statement's text and its bound values, hands them to the session's observer (the schedule
//! explorer's gate; a server run has none), sends them, classifies the error with the
//! engine's table and hands the answer back to the observer. It also keeps the session's
//! transaction state as one value ([`Tx`]), from which it decides whether a connection may go
//! back to its pool, and knows the connection's server-side id (for asking the database
//! whether the session is blocked, or cancelling its statement).
//!
//! Written once, generic over the engine's sqlx connection; each engine's `session.rs` says
//! which statements it sends, in its SQL.

use std::sync::Arc;

use sqlx::database::HasStatementCache;
use sqlx::{AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use super::errors::ErrorTable;

mod foreign;
mod link;
mod macros;
mod rows;
mod state;

use crate::methods::Guard;
use crate::model::DbFailure;
use crate::model::statement::{Answer, Effect, Fetch, Observer, Statement, Then};
pub use link::{Link, Reported};
pub(crate) use macros::{pooled_link, session_through_wire};
use rows::integers;
pub use state::{ReportBy, ServerIdQuery, Tx, Wrap};

/// One session's connection and everything it sends on it.
pub struct Wire<L: Link> {
    link: L,
    errors: &'static ErrorTable,
    /// Whether statements may be named and kept on the connection (not through a
    /// transaction pooler).
    persistent: bool,
    wrap: Wrap,
    /// How a wrapped statement's transaction begins (`BEGIN`, `START TRANSACTION`).
    wrap_begin: &'static str,
    tx: Tx,
    observer: Option<Arc<dyn Observer>>,
    id_query: ServerIdQuery,
    server_id: Option<i64>,
    /// Whether a user's script sent a statement on this connection: what it may have left
    /// there (a setting, a `search_path`, a temporary table, a session lock) must not reach
    /// the next request, so the link resets or closes it when the session ends.
    ran_foreign: bool,
    /// A user's statement is being sent: always prepared (one statement per execution, so
    /// that a text the server lexes differently from counter, after a script changed how it
    /// reads strings, cannot carry a second statement).
    sending_foreign: bool,
    report: ReportBy,
}

impl<L: Link> Wire<L>
where
    L::Db: Database + HasStatementCache,
    for<'c> &'c mut <L::Db as Database>::Connection: Executor<'c, Database = L::Db>,
    <L::Db as Database>::Arguments: IntoArguments<L::Db>,
    for<'q> Option<i64>: Encode<'q, L::Db> + Type<L::Db>,
    for<'r> Option<i64>: Decode<'r, L::Db>,
    for<'r> Option<i32>: Decode<'r, L::Db>,
    for<'r> String: Decode<'r, L::Db>,
    i64: Type<L::Db>,
    i32: Type<L::Db>,
    String: Type<L::Db>,
    usize: ColumnIndex<<L::Db as Database>::Row>,
{
    pub fn new(
        link: L,
        errors: &'static ErrorTable,
        wrap_begin: &'static str,
        id_query: ServerIdQuery,
    ) -> Wire<L> {
        Wire {
            link,
            errors,
            persistent: true,
            wrap: Wrap::Never,
            wrap_begin,
            tx: Tx::Idle,
            observer: None,
            id_query,
            server_id: None,
            ran_foreign: false,
            sending_foreign: false,
            report: ReportBy::Link,
        }
    }

    /// Through a transaction pooler: unnamed statements only, and every statement outside a
    /// transaction inside one of its own.
    pub fn through_transaction_pooler(mut self) -> Wire<L> {
        self.persistent = false;
        self.wrap = Wrap::ReadsAndWrites;
        self
    }

    pub fn persistent(&self) -> bool {
        self.persistent
    }

    /// The connection this wire sends on.
    pub fn link(&mut self) -> &mut L {
        &mut self.link
    }

    /// Installs `observer` for every statement from now on; autocommit writes then get a
    /// transaction of their own (see [`Wrap::Writes`]).
    pub fn observe(&mut self, observer: Arc<dyn Observer>) {
        self.observer = Some(observer);
        if self.wrap == Wrap::Never {
            self.wrap = Wrap::Writes;
        }
    }

    pub fn tx(&self) -> Tx {
        self.tx
    }

    /// Whether the method's own transaction is open (not a wrapped statement's).
    pub fn in_transaction(&self) -> bool {
        matches!(self.tx, Tx::Open(..))
    }

    /// The method's transaction is open from now on (set before its first statement, so that
    /// a session dropped half-way never lends the connection in that state).
    pub fn opened(&mut self, guard: Guard, id: i64) {
        self.tx = Tx::Open(guard, id);
    }

    /// The transaction is over: the connection may be lent again.
    pub fn closed(&mut self) {
        self.tx = Tx::Idle;
    }

    /// Closes the connection when the session ends instead of lending it again (it failed in
    /// a way that leaves it in an unknown state), whatever the transaction state says.
    pub fn discard(&mut self) {
        self.link.discard();
    }

    /// Sends `statement` (inside a transaction of its own when [`Wrap`] says so) and returns
    /// its answer, or its error classified by the engine's table.
    pub async fn send(&mut self, statement: Statement) -> Result<Answer, DbFailure> {
        if self.tx == Tx::Idle && self.wraps(statement.effect) {
            return self.wrapped(statement).await;
        }
        self.exchange(&statement).await
    }

    /// `ROLLBACK`; the transaction is over once it succeeded (if it failed, the connection is
    /// closed when the session ends instead of lent again).
    pub async fn rollback(&mut self) {
        if self.control("ROLLBACK", Effect::Releases).await.is_ok() {
            self.tx = Tx::Idle;
        }
    }

    /// The count a fixed write answers with (`RETURNING count`; 0 if it answers no row).
    pub async fn count_written(
        &mut self,
        sql: &'static str,
        binds: &[i64],
    ) -> Result<i64, DbFailure> {
        Ok(self.scalar(sql, binds, Effect::Writes).await?.unwrap_or(0))
    }

    /// A fixed statement without values whose answer is not read (`BEGIN`, `COMMIT`, ...).
    pub async fn control(&mut self, sql: &'static str, effect: Effect) -> Result<(), DbFailure> {
        self.send(Statement::control(sql, effect)).await.map(drop)
    }

    /// A fixed write; the rows it wrote.
    pub async fn written(&mut self, sql: &'static str, binds: &[i64]) -> Result<u64, DbFailure> {
        let statement = Statement::fixed(sql, binds, Effect::Writes, Fetch::Written);
        Ok(self.send(statement).await?.rows)
    }

    /// The one integer a fixed statement answers with, if it answers a row.
    pub async fn scalar(
        &mut self,
        sql: &'static str,
        binds: &[i64],
        effect: Effect,
    ) -> Result<Option<i64>, DbFailure> {
        let statement = Statement::fixed(sql, binds, effect, Fetch::Rows);
        Ok(self.send(statement).await?.scalar())
    }

    fn wraps(&self, effect: Effect) -> bool {
        match self.wrap {
            Wrap::Never => false,
            Wrap::Writes => effect == Effect::Writes,
            Wrap::ReadsAndWrites => matches!(effect, Effect::Reads | Effect::Writes),
        }
    }

    /// `BEGIN`, the statement, `COMMIT`: the statement's answer, or its error, or the
    /// commit's. A failed statement's transaction is ended by the COMMIT too (PostgreSQL then
    /// answers ROLLBACK; the others commit what the failed statement did not do: nothing).
    async fn wrapped(&mut self, statement: Statement) -> Result<Answer, DbFailure> {
        self.exchange(&Statement::control(self.wrap_begin, Effect::Local))
            .await?;
        self.tx = Tx::Wrapped;
        let result = self.exchange(&statement).await;
        let committed = self.finish_wrapped().await;
        let answer = result?;
        committed.map(|()| answer)
    }

    /// The `COMMIT` of a wrapped statement's transaction. A commit that failed (SQLite keeps
    /// a transaction open when COMMIT is BUSY) is rolled back; if even that fails, the
    /// connection is closed when the session ends.
    pub(super) async fn finish_wrapped(&mut self) -> Result<(), DbFailure> {
        let committed = self
            .exchange(&Statement::control("COMMIT", Effect::Releases))
            .await;
        match &committed {
            Ok(_) => self.tx = Tx::Idle,
            Err(_) => {
                let rolled_back = self
                    .exchange(&Statement::control("ROLLBACK", Effect::Releases))
                    .await;
                if rolled_back.is_ok() {
                    self.tx = Tx::Idle;
                }
            }
        }
        committed.map(drop)
    }

    /// One statement on the connection, between the observer's two looks at it.
    async fn exchange(&mut self, statement: &Statement) -> Result<Answer, DbFailure> {
        let observer = self.observer.clone();
        loop {
            if let Some(observer) = &observer {
                observer.before(statement).await;
            }
            let sent = self.execute(statement).await;
            let answer = sent.map_err(|err| {
                self.link.failed(&err);
                self.errors.classify(&err)
            });
            match &observer {
                Some(observer) if observer.after(statement, &answer) == Then::Resend => continue,
                _ => return answer,
            }
        }
    }

    /// Sends one statement: without values as a simple query (one round trip, nothing left on
    /// the connection, and accepted by every statement kind: `LOCK TABLES` cannot be prepared
    /// on MariaDB); with values as a prepared statement with its values bound.
    async fn execute(&mut self, statement: &Statement) -> Result<Answer, sqlx::Error> {
        // The text is an engine's fixed statement or a user's checked script statement;
        // values are never part of it.
        let text = AssertSqlSafe(statement.sql.clone());
        let prepared = self.sending_foreign;
        let conn = self.link.connection();
        let rows = if statement.binds.is_empty() && !prepared {
            let raw = sqlx::raw_sql(text);
            match statement.fetch {
                Fetch::Nothing | Fetch::Written => {
                    let done = raw.execute(&mut *conn).await?;
                    return Ok(Answer {
                        rows: L::rows_written(&done),
                        first_row: Vec::new(),
                    });
                }
                Fetch::Rows => raw.fetch_all(&mut *conn).await?,
            }
        } else {
            let mut query = sqlx::query::<L::Db>(text).persistent(self.persistent && !prepared);
            for value in &statement.binds {
                query = query.bind(*value);
            }
            match statement.fetch {
                Fetch::Nothing | Fetch::Written => {
                    let done = query.execute(&mut *conn).await?;
                    return Ok(Answer {
                        rows: L::rows_written(&done),
                        first_row: Vec::new(),
                    });
                }
                Fetch::Rows => query.fetch_all(&mut *conn).await?,
            }
        };
        Ok(Answer {
            rows: rows.len() as u64,
            first_row: rows.first().map(integers).unwrap_or_default(),
        })
    }
}

impl<L: Link> Drop for Wire<L> {
    /// A session dropped inside a transaction (its task was cancelled, or a rollback failed)
    /// closes its connection instead of lending it in that state: the database rolls back.
    /// So does one that ran a user's script.
    fn drop(&mut self) {
        if self.tx != Tx::Idle {
            self.link.discard();
        } else if self.ran_foreign {
            self.link.forget_foreign();
        }
    }
}
