//! A cell of the product's own methods explored: the tree (`tree.rs`) over instances that run
//! the method's code on sessions of their own, each schedule from the same starting state
//! (the counter row deleted, and created at 0 when the cell starts from an existing row).

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::gate::{Gate, spawn_instance};
use super::record::record;
use super::run::{Ran, Runner};
pub(super) use super::tree::Explored;
use super::tree::{Bounds, Instances, explore};
use crate::engines::sqlite::errors::BUSY;
use crate::engines::{Backend, Database, WithDatabase};
use crate::methods::Session;
use crate::model::schedule::StartState;
use crate::model::schedule_results::ScheduleRecord;
use crate::model::{DbFailure, Engine, MethodId};

/// One cell to explore.
pub(super) struct Cell<'a> {
    pub backend: &'a Backend,
    pub method: MethodId,
    pub start: StartState,
    pub sessions: usize,
    pub max_switches: Option<u32>,
    pub max_schedules: u64,
    pub lock_timeout: Duration,
    /// Ctrl-C: the schedules not yet run are left out (the cell is then not proven).
    pub stop: &'a AtomicBool,
    /// Keep every schedule (`explain --all`), not only the shortest of each class.
    pub keep_all: bool,
}

impl WithDatabase for Cell<'_> {
    type Output = Result<Explored, DbFailure>;

    async fn run<D: Database>(self, db: &D) -> Self::Output {
        let probe = db.probe().await?;
        let bounds = Bounds {
            max_switches: self.max_switches,
            max_schedules: self.max_schedules,
            stop: self.stop,
            keep_all: self.keep_all,
        };
        let mut instances = OnSessions {
            cell: &self,
            db,
            probe,
        };
        explore(&mut instances, &bounds).await
    }
}

/// The product's own method code, each instance on a session of its own.
struct OnSessions<'c, 'd, D: Database> {
    cell: &'c Cell<'c>,
    db: &'d D,
    probe: D::Probe,
}

impl<D: Database> Instances for OnSessions<'_, '_, D> {
    async fn reset(&mut self) -> Result<(), DbFailure> {
        past_busy(self.cell.lock_timeout, || self.cell.reset(self.db)).await
    }

    async fn once(&mut self, prefix: &[usize]) -> Result<Ran, DbFailure> {
        self.cell.once(self.db, &mut self.probe, prefix).await
    }

    async fn value(&mut self) -> Option<i64> {
        // On a cluster, the count is read once every node has applied every commit.
        if !self.db.settle_replicas().await.ok()? {
            return None;
        }
        let id = self.cell.method.row_id();
        let backend = self.cell.backend;
        let after = past_busy(self.cell.lock_timeout, || backend.get_count(id)).await;
        after.ok().map(|row| row.map_or(0, |(_, count)| count))
    }

    fn record(&self, ran: &Ran, after: Option<i64>) -> ScheduleRecord {
        record(ran, self.cell.method, 0, after)
    }
}

/// SQLite: a connection of the schedule before may still be closing (sqlx closes a dropped
/// connection on its own worker thread, after the instance has finished) and hold the
/// database's lock for a moment. The reset and the final read wait for it, up to the lock
/// timeout: it is not part of any schedule. Without the wait, 41 of 1,000 schedules of three
/// sessions of an eight-read script on SQLite read their final count as unknown (class
/// "unknown" instead of "lost"), and a 100,000-schedule exploration stopped with "database is
/// locked" (bench/explore-memory.sh).
async fn past_busy<T, F, Fut>(limit: Duration, mut work: F) -> Result<T, DbFailure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbFailure>>,
{
    let started = Instant::now();
    loop {
        match work().await {
            Err(failure) if failure.code() == Some(BUSY) && started.elapsed() < limit => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => return other,
        }
    }
}

impl Cell<'_> {
    /// The starting state: the row deleted (from every table a counter may live in) and purged
    /// from the storage, as the server's reset does before a race, then created at 0 when the
    /// cell starts from an existing row. Without the purge, InnoDB's `SELECT ... FOR UPDATE`
    /// of an absent row locked the delete-marked record (the second session waited) or the
    /// gap (both went on, then deadlocked on the insert) depending on how long ago the row
    /// was deleted: two runs gave two verdicts.
    async fn reset<D: Database>(&self, db: &D) -> Result<(), DbFailure> {
        let id = self.method.row_id();
        self.backend.delete(Some(id)).await?;
        if self.start == StartState::Exists {
            db.session().await?.insert(id).await?;
        }
        // On a cluster, every node starts the schedule from the same state.
        match db.settle_replicas().await? {
            true => Ok(()),
            false => Err(DbFailure::ours(
                crate::model::ErrorClass::Internal,
                "the cluster's nodes did not all apply the starting state in time (a node's applier is stuck)",
            )),
        }
    }

    /// One schedule: each instance on a session of its own, in a task of its own.
    async fn once<D: Database>(
        &self,
        db: &D,
        probe: &mut D::Probe,
        prefix: &[usize],
    ) -> Result<Ran, DbFailure> {
        let (events, gate_events) = mpsc::unbounded_channel();
        let busy_blocks = self.backend.engine() == Engine::Sqlite;
        let ctx = self.backend.method_context().clone();
        // Every instance has its connection before any starts: one that could not get its
        // own would leave the others running unobserved.
        let (mut sessions, mut ids) = (Vec::new(), Vec::new());
        for i in 0..self.sessions {
            let mut session = match self.method {
                MethodId::Custom => db.script_session().await?,
                _ => db.session_for(i).await?,
            };
            // SQLite has no server ids; its instances are told apart by their number.
            ids.push(session.server_id().await?.unwrap_or(i as i64 + 1));
            sessions.push(session);
        }
        let (mut gates, mut tasks) = (Vec::new(), Vec::new());
        for (i, session) in sessions.into_iter().enumerate() {
            let gate = Gate::new(i, events.clone(), busy_blocks);
            gates.push(gate.clone());
            tasks.push(spawn_instance(session, gate, self.method, ctx.clone()));
        }
        drop(events);
        let runner = Runner::new(probe, gate_events, gates, ids, self.lock_timeout);
        let ran = runner.run(prefix).await;
        // Every instance has finished (or been unwound): its connection is back. One that
        // panicked is an error of the run, not a schedule with an unknown end.
        let mut panicked = None;
        for task in tasks {
            if let Err(err) = task.await
                && err.is_panic()
            {
                let payload = err.into_panic();
                let why = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_string());
                panicked.get_or_insert(why);
            }
        }
        if let Some(why) = panicked {
            return Err(DbFailure::ours(
                crate::model::ErrorClass::Internal,
                format!("an instance of the schedule panicked ({why}): the run is not trustworthy"),
            ));
        }
        Ok(ran)
    }
}
