//! Whether a session is blocked, asked of the database from a connection of its own (the
//! schedule explorer's third connection): never guessed from a timeout. Each engine answers
//! in its own way (`postgres/blocking.rs`, `mariadb/blocking.rs`); SQLite has no server to
//! ask, and its sessions are never seen waiting (they answer SQLITE_BUSY at once instead).

use std::future::Future;
use std::time::Duration;

use crate::model::DbFailure;

/// What a session is doing, as the database says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// Not waiting for a lock (working, or done and about to answer).
    Running,
    /// Waiting for a lock held by these of the asker's own sessions (empty: the database does
    /// not say which, as MariaDB for table and named locks); `lock` says what in words.
    OnOurs { holders: Vec<i64>, lock: String },
    /// Waiting for a lock held by a connection outside the schedule, described.
    OnStranger { holder: String, lock: String },
    /// The answer the database gave may predate the last change (MariaDB's InnoDB tables
    /// are a cache refreshed at most every 0.1 s): ask again later.
    Unsure,
}

/// A connection that asks the database about other sessions.
pub trait BlockingProbe: Send {
    /// What session `who` is doing; `ours` are the schedule's sessions.
    fn waits(
        &mut self,
        who: i64,
        ours: &[i64],
    ) -> impl Future<Output = Result<Wait, DbFailure>> + Send;
    /// Cancels the statement session `who` is running (its own task sees the error).
    fn cancel(&mut self, who: i64) -> impl Future<Output = Result<(), DbFailure>> + Send;
    /// Told each time a statement of the schedule is sent or answers: a lock may have been
    /// taken or let go.
    fn changed(&mut self) {}
    /// How long after a change the database's answers can be trusted (0: at once).
    fn lag(&self) -> Duration {
        Duration::ZERO
    }
    /// On a multi-primary cluster: waits until every node has applied every commit any
    /// made, or (`applier_may_wait`) until a node behind is seen with its applier waiting for
    /// a lock one of the sessions holds (as a blocked session waits, until that session goes
    /// on); false when neither came in time (the cluster is stalled). True at once on a
    /// single server.
    fn settle_replicas(
        &mut self,
        _applier_may_wait: bool,
    ) -> impl Future<Output = Result<bool, DbFailure>> + Send {
        async { Ok(true) }
    }
    /// On a multi-primary cluster: what its nodes counted since the last call (certification
    /// failures, brute-force aborts, replays), in words; None when nothing (or no cluster).
    fn cluster_events(&mut self) -> impl Future<Output = Result<Option<String>, DbFailure>> + Send {
        async { Ok(None) }
    }
    /// After [`BlockingProbe::settle_replicas`] said false: restarts the nodes behind, waits
    /// until the cluster is synced again, and says what it did.
    fn recover_replicas(&mut self) -> impl Future<Output = Result<String, DbFailure>> + Send {
        async {
            Err(DbFailure::ours(
                crate::model::ErrorClass::Internal,
                "a single server has no replicas to recover",
            ))
        }
    }
}

/// SQLite's: nothing to ask (a statement that would wait answers SQLITE_BUSY instead).
#[derive(Debug, Default)]
pub struct NoServer;

impl BlockingProbe for NoServer {
    async fn waits(&mut self, _who: i64, _ours: &[i64]) -> Result<Wait, DbFailure> {
        Ok(Wait::Running)
    }

    async fn cancel(&mut self, _who: i64) -> Result<(), DbFailure> {
        Ok(())
    }
}
