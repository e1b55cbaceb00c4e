//! What every engine's connections offer a [`Backend`](super::Backend): sessions for the
//! methods, a pool for the API's reads, what the database says about itself, and how to close. One impl
//! per engine folder; the backend reaches them through one dispatch (`each_db!`), so adding
//! an engine is a variant and an arm there, not an edit in every function.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::engines::blocking::BlockingProbe;
use crate::engines::errors::ErrorTable;
use crate::engines::reads::ReadSql;
use crate::methods::{self, Session};
use crate::model::{DbFailure, Engine, MethodId};

/// What a database says about itself once connected.
#[derive(Debug, Clone)]
pub struct Facts {
    pub engine: Engine,
    /// The level the database says its transactions run at, in its words.
    pub effective_isolation: String,
    pub server_version: String,
    pub pool_size: u32,
    /// The settings that change outcomes (`fsync`, `synchronous_commit`, ...).
    pub settings: BTreeMap<String, String>,
    /// Who users' scripts run as, when the run has a script.
    pub scripts: Option<ScriptAccount>,
}

/// The account a user's script runs as, as the database says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptAccount {
    /// In words: `role counter_script`, `counter_script@localhost`, `an authorizer`.
    pub name: String,
    /// Whether it may do anything (a superuser, `SUPER`): a script could then change what
    /// the next request sees.
    pub superuser: bool,
}

/// One engine's connections at one isolation level.
pub trait Database: Send + Sync + 'static {
    /// The session the methods run on: one connection, the engine's SQL.
    type Session: Session + 'static;
    /// The sqlx driver of the pool for everything but increments.
    type Pooled: sqlx::Database;
    /// The connection that asks whether a session is blocked.
    type Probe: BlockingProbe + 'static;
    const ERRORS: &'static ErrorTable;
    const READS: &'static ReadSql;

    /// A session on a connection of its own, for one attempt of an increment.
    fn session(&self) -> impl Future<Output = Result<Self::Session, DbFailure>> + Send;
    /// A session for a user's script: on a connection confined to what a script may do (a
    /// role of its own, an authorizer) and able to report its transaction's state; the
    /// engine's ordinary session where it has nothing more.
    fn script_session(&self) -> impl Future<Output = Result<Self::Session, DbFailure>> + Send {
        self.session()
    }
    /// A session for a schedule's instance number `instance`: on a multi-primary cluster
    /// whose increments are spread, on a node of the instance's own; the engine's ordinary
    /// session elsewhere.
    fn session_for(
        &self,
        _instance: usize,
    ) -> impl Future<Output = Result<Self::Session, DbFailure>> + Send {
        self.session()
    }
    /// Waits until every node of a multi-primary cluster has applied every commit any made
    /// (a read or a write on another node is then as if there were one server); false when a
    /// node did not catch up in time (the cluster is stalled). True at once on one server.
    fn settle_replicas(&self) -> impl Future<Output = Result<bool, DbFailure>> + Send {
        async { Ok(true) }
    }
    /// A connection of its own that asks the database about the sessions.
    fn probe(&self) -> impl Future<Output = Result<Self::Probe, DbFailure>> + Send;
    /// The pool for reads, resets and health checks.
    fn pool(&self) -> &sqlx::Pool<Self::Pooled>;
    fn facts(&self) -> Facts;
    fn close(&self) -> impl Future<Output = ()> + Send;
    /// Sessions left idle in transaction once `patience` is over (0 where the engine has no
    /// server sessions).
    fn settle_idle_in_transaction(
        &self,
        patience: Duration,
    ) -> impl Future<Output = Result<i64, DbFailure>> + Send;
    /// Waits until deleted rows are gone from the storage, so that a row deleted a moment ago
    /// is absent the way a row never created is. Only InnoDB needs it (a delete-marked record
    /// stays until purge, and it is locked differently from the gap a vanished record leaves);
    /// PostgreSQL's dead tuples and SQLite's freed pages take no locks. Returns whether the
    /// wait could be made (`false`: the account may not ask).
    fn forget_deleted(&self) -> impl Future<Output = Result<bool, DbFailure>> + Send {
        async { Ok(true) }
    }
    /// The increments' connections: how many are free to lend, of how many there may be.
    fn free_connections(&self) -> (usize, u32);
    /// Why this database cannot run `method`, from what it showed when connected.
    fn probed_gap(&self, _method: MethodId) -> Option<String> {
        None
    }
    /// Why `method` cannot be raced here (many increments at once, as the server and the
    /// matrix run them) though its schedules can be explored.
    fn race_gap(&self, _method: MethodId) -> Option<String> {
        None
    }
    /// What `method` does on this engine, in words.
    fn summary(&self, method: MethodId) -> &'static str {
        methods::summary(method)
    }
    /// The statements that make `method` what it is, as this engine's session sends them.
    fn key_statements(&self, method: MethodId) -> &'static [&'static str];
}

/// Work to do with a backend's database, whatever its engine: generic code over the engine's
/// [`Database`] (the schedule explorer runs the methods on its sessions).
pub trait WithDatabase: Send {
    type Output;
    fn run<D: Database>(self, db: &D) -> impl Future<Output = Self::Output> + Send;
}
