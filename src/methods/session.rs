//! What the methods are made of: the [`Session`] each engine implements (a handful of
//! statements in its own SQL) and the [`MethodContext`] a server run gives them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::script::lex::ScriptDialect;
use super::script::parse::Script;
use crate::model::statement::{Answer, Observer, Statement};
use crate::model::{DbFailure, IncrementError, Isolation, IsolationScope};

/// How a transaction is fenced off: the guard some methods take before anything is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// None: `BEGIN` ... `COMMIT`.
    Nothing,
    /// The whole table, locked before the first read (method 1).
    Table,
    /// A lock keyed by the row id (method 6).
    Key,
}

/// How a row is read: plainly, or locking it for the rest of the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Plain,
    ForUpdate,
}

/// What an insert of a new row found.
#[derive(Debug)]
pub enum Inserted {
    Created,
    /// Someone else's row with that id was there first: the duplicate-key error, kept in
    /// case the row cannot be seen either (then the transaction must be refused with it).
    Exists(DbFailure),
}

/// Whether a statement of a user's script left the connection's transaction as counter had
/// it, as the database reported it right after the statement (see `engines/wire.rs`): what
/// the script is checked against at run time (`methods/custom/`), whatever its text
/// looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxReport {
    /// Where counter left it: still inside counter's transaction, or still outside one.
    Kept,
    /// The statement opened or ended a transaction: `open` is where the connection is now,
    /// `control` the transaction commands the database reported completing (PostgreSQL's
    /// command tags, `COMMIT` also for a `COMMIT AND CHAIN` whose transaction stays open;
    /// empty where the engine reports only the state).
    Changed { open: bool, control: Vec<String> },
    /// This connection cannot tell (PostgreSQL through a pooler or a socket directory, where
    /// no relay listens; or the statement failed): only the text was checked.
    Unknown,
}

/// The statements of the methods, on one connection of one engine. Each engine writes them in
/// its own SQL; errors come back already classified by the engine's error table.
///
/// A session that is dropped while its transaction is open must not lend its connection to
/// anyone else in that state (implementations close it instead: the database rolls back).
pub trait Session: Send {
    /// Opens a transaction behind `guard` (for [`Guard::Key`], keyed by `id`).
    fn begin(
        &mut self,
        guard: Guard,
        id: i64,
    ) -> impl Future<Output = Result<(), IncrementError>> + Send;
    /// Commits the open transaction and lets go of its guard.
    fn commit(&mut self) -> impl Future<Output = Result<(), DbFailure>> + Send;
    /// Rolls the open transaction back and lets go of its guard; failures are the
    /// connection's problem (it is not reused), not the caller's.
    fn rollback(&mut self) -> impl Future<Output = ()> + Send;
    /// The row's count, if the row exists.
    fn read(
        &mut self,
        id: i64,
        read: Read,
    ) -> impl Future<Output = Result<Option<i64>, DbFailure>> + Send;
    /// Inserts row `id` with count 0 (inside a transaction, without aborting it on a
    /// duplicate key).
    fn insert(&mut self, id: i64) -> impl Future<Output = Result<Inserted, DbFailure>> + Send;
    /// `count = value`; returns the rows written (0: the row is gone).
    fn write(&mut self, id: i64, value: i64)
    -> impl Future<Output = Result<u64, DbFailure>> + Send;
    /// `count = new WHERE count = old`; returns the rows written (0: someone else won).
    fn swap(
        &mut self,
        id: i64,
        old: i64,
        new: i64,
    ) -> impl Future<Output = Result<u64, DbFailure>> + Send;
    /// `count = count + by` in one statement; the count written, None when there is no row.
    fn add(
        &mut self,
        id: i64,
        by: i64,
    ) -> impl Future<Output = Result<Option<i64>, DbFailure>> + Send;
    /// Adds 1 to slot `slot` of counter `id` (creating the slot at 1); the slot's count.
    fn add_to_slot(
        &mut self,
        id: i64,
        slot: i64,
    ) -> impl Future<Output = Result<i64, DbFailure>> + Send;
    /// Appends one entry for counter `id` to the ledger.
    fn append(&mut self, id: i64) -> impl Future<Output = Result<(), DbFailure>> + Send;
    /// Creates the row with count 1 or adds 1, in one statement; the count written.
    fn upsert(&mut self, id: i64) -> impl Future<Output = Result<i64, DbFailure>> + Send;

    /// The SQL a user's script is read in for this engine (quotes, comments, placeholders).
    const DIALECT: ScriptDialect;
    /// Prepares a statement of a user's script without running it, its `params` parameters
    /// typed as BIGINT; the names of the columns it answers with. Errors carry the
    /// database's message.
    fn prepare_script(
        &mut self,
        sql: &str,
        params: usize,
    ) -> impl Future<Output = Result<Vec<String>, DbFailure>> + Send;
    /// Runs a statement of a user's script (its text in this engine's placeholders, its
    /// values bound); with its answer, whether it left the transaction as counter had it.
    fn run_script(
        &mut self,
        statement: Statement,
    ) -> impl Future<Output = Result<(Answer, TxReport), DbFailure>> + Send;
    /// Something that cancels the statement this session's connection is running, from
    /// outside the session (the deadline of a user's script); None where it has none.
    fn canceller(&mut self) -> impl Future<Output = Option<Canceller>> + Send {
        async { None }
    }
    /// The level the connection's transaction runs at (inside one) or its next one will
    /// (outside), as the database says; None where the engine has one level (SQLite).
    fn isolation_now(
        &mut self,
    ) -> impl Future<Output = Result<Option<Isolation>, DbFailure>> + Send;

    /// Hands every statement of this session to `observer` from now on (the schedule
    /// explorer's gate); autocommit writes then run in a transaction of their own, so that
    /// their commit is a statement the observer sees.
    fn observe(&mut self, observer: Arc<dyn Observer>);
    /// The connection's id on the server: PostgreSQL's backend pid, MariaDB's connection id;
    /// None where there is no server (SQLite).
    fn server_id(&mut self) -> impl Future<Output = Result<Option<i64>, DbFailure>> + Send;
}

/// Cancels the statement a connection is running (PostgreSQL's CancelRequest, MariaDB's
/// `KILL QUERY`, SQLite's interrupt): the statement then fails, its transaction can be
/// rolled back, and the locks it held go.
pub type Canceller =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What a method needs besides its session: the pause between read and write, and this server
/// process's own lock (method 8).
#[derive(Debug, Clone)]
pub struct MethodContext {
    /// Pause between the read and the write of read-then-write methods (`--think-ms`): makes
    /// races show up reliably on small machines.
    pub think: Duration,
    pub local_lock: Arc<tokio::sync::Mutex<()>>,
    /// How many slots a sharded counter has (`--shards`).
    pub shards: u32,
    /// The custom method's script (`--method-file`), when there is one.
    pub script: Option<Arc<Script>>,
    /// The run's level and where it applies: a script's transaction must run at it.
    pub isolation: Isolation,
    pub scope: IsolationScope,
    /// The longest one increment of a script may take, retries included (the statement
    /// timeout's value): past it, the running statement is cancelled and the attempt rolled
    /// back, whatever the script set. None: no limit.
    pub deadline: Option<Duration>,
}

/// Slots of a sharded counter unless `--shards` says otherwise.
pub const DEFAULT_SHARDS: u32 = 16;

impl MethodContext {
    pub fn new(think: Duration) -> MethodContext {
        MethodContext {
            think,
            local_lock: Arc::default(),
            shards: DEFAULT_SHARDS,
            script: None,
            isolation: Isolation::ReadCommitted,
            scope: IsolationScope::Session,
            deadline: None,
        }
    }

    pub(super) async fn think(&self) {
        if !self.think.is_zero() {
            tokio::time::sleep(self.think).await;
        }
    }
}
