//! A cell explored: every schedule of its instances, depth first, each re-run from the same
//! starting state (replay, not snapshots: the counter row is deleted, and created at 0 when the
//! cell starts from an existing row).
//!
//! The first run takes the default at every choice (the instance that just ran goes on); each
//! choice point it passed adds its alternatives, as the choices up to there and one other
//! instance. Three bounds cut the tree, and each is counted in the result:
//! - symmetry: the instances are the same method, so instances that have not yet sent a
//!   statement another could notice are interchangeable: of those only the first is tried;
//! - `--max-switches`: an alternative that switches away from an instance that could have
//!   gone on counts one switch (CHESS's preemption bound);
//! - after a deadlock nothing is branched: which instance the database picks as the victim is
//!   not deterministic, so the tree below it is not either.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::gate::{Gate, spawn_instance};
use super::record::record;
use super::run::{Ran, Runner};
use crate::engines::sqlite::errors::BUSY;
use crate::engines::{Backend, Database, WithDatabase};
use crate::methods::Session;
use crate::model::schedule::{ScheduleClass, StartState};
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

/// What exploring a cell found: how many schedules of each class, and the schedules its
/// report needs.
pub(super) struct Explored {
    pub classes: BTreeMap<ScheduleClass, u64>,
    /// The shortest schedule of each class, or every one (see [`Cell::keep_all`]).
    pub schedules: Vec<ScheduleRecord>,
    pub run: u64,
    pub cut_by_switches: u64,
    pub cut_by_cap: u64,
    pub diverged: Vec<String>,
}

impl Explored {
    /// Counts `schedule` and keeps it if the report needs it: the first of its class, or one
    /// with fewer switches than the one kept (every one with `all`).
    fn keep(&mut self, schedule: ScheduleRecord, all: bool) {
        self.run += 1;
        *self.classes.entry(schedule.class).or_insert(0) += 1;
        if all {
            self.schedules.push(schedule);
            return;
        }
        let kept = self
            .schedules
            .iter_mut()
            .find(|s| s.class == schedule.class);
        match kept {
            Some(kept) if schedule.switches < kept.switches => *kept = schedule,
            Some(_) => {}
            None => self.schedules.push(schedule),
        }
    }
}

impl WithDatabase for Cell<'_> {
    type Output = Result<Explored, DbFailure>;

    async fn run<D: Database>(self, db: &D) -> Self::Output {
        let mut probe = db.probe().await?;
        let mut pending: Vec<Vec<usize>> = vec![Vec::new()];
        let mut explored = Explored {
            classes: BTreeMap::new(),
            schedules: Vec::new(),
            run: 0,
            cut_by_switches: 0,
            cut_by_cap: 0,
            diverged: Vec::new(),
        };
        while let Some(prefix) = pending.pop() {
            if explored.run >= self.max_schedules || self.stop.load(Ordering::Relaxed) {
                explored.cut_by_cap = pending.len() as u64 + 1;
                break;
            }
            past_busy(self.lock_timeout, || self.reset(db)).await?;
            let ran = self.once(db, &mut probe, &prefix).await?;
            explored.cut_by_switches += self.branch(&ran, prefix.len(), &mut pending);
            let id = self.method.row_id();
            let after = past_busy(self.lock_timeout, || self.backend.get_count(id)).await;
            let after = after.ok().map(|row| row.map_or(0, |(_, count)| count));
            if let Some(diverged) = &ran.diverged {
                explored.diverged.push(diverged.clone());
            }
            let all = self.keep_all;
            explored.keep(record(&ran, self.method, 0, after), all);
        }
        Ok(explored)
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
        Ok(())
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
                _ => db.session().await?,
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

    /// Queues the alternatives of every choice `ran` made past `fixed` (the choices it was
    /// told to make); returns how many the switch bound cut.
    fn branch(&self, ran: &Ran, fixed: usize, pending: &mut Vec<Vec<usize>>) -> u64 {
        let mut cut = 0;
        let mut switches = 0;
        let last = ran.deadlock_at.unwrap_or(usize::MAX).min(ran.choices.len());
        for depth in 0..last {
            let point = &ran.choices[depth];
            if depth >= fixed {
                let first_untouched = point.untouched.iter().min().copied();
                let chosen_untouched = point.untouched.contains(&point.chosen);
                let alternatives = point.enabled.iter().copied().filter(|&alt| {
                    alt != point.chosen
                        && (!point.untouched.contains(&alt)
                            || (!chosen_untouched && Some(alt) == first_untouched))
                });
                let alternatives: Vec<usize> = alternatives.collect();
                for &alt in alternatives.iter().rev() {
                    let switch = point.preempted.is_some_and(|p| p != alt);
                    if self
                        .max_switches
                        .is_some_and(|max| switches + u32::from(switch) > max)
                    {
                        cut += 1;
                        continue;
                    }
                    let mut next: Vec<usize> =
                        ran.choices[..depth].iter().map(|c| c.chosen).collect();
                    next.push(alt);
                    pending.push(next);
                }
            }
            switches += u32::from(point.preempted.is_some_and(|p| p != point.chosen));
        }
        cut
    }
}
