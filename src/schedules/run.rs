//! One schedule: the instances run statement by statement, in the order a list of choices
//! says, on the real database.
//!
//! Before each choice the run *settles*: every instance is either at its gate with a statement
//! another session could notice, confirmed blocked, or finished. A statement that has not
//! answered after a few milliseconds is not guessed to be blocked: the probe connection asks
//! the database (PostgreSQL `pg_blocking_pids`, MariaDB's InnoDB and process-list states), and
//! asks again until the statement either answers or is seen waiting for a lock held by
//! another instance. After every step (a commit lets go of locks; a new lock request can make
//! the database pick a waiting session as a deadlock's victim), every blocked instance is
//! looked at again the same way. Statements that change nothing
//! another session can see (`BEGIN`, `SAVEPOINT`, ...) go at once, without a choice. So the
//! same choices give the same run, whatever the machine's speed.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use std::sync::Arc;

use super::choose::{Choice, choose};
use super::gate::{Event, Gate};
use super::instance::{Instance, Phase};
pub(super) use super::ran::{GaveUp, Ran, Step};
use crate::engines::blocking::BlockingProbe;
use crate::model::statement::{Answer, Effect};
use crate::model::{DbFailure, IncrementError, Refusal};

/// One schedule's run.
pub(super) struct Runner<'p, P: BlockingProbe> {
    pub(super) probe: &'p mut P,
    pub(super) events: mpsc::UnboundedReceiver<(usize, Event)>,
    pub(super) instances: Vec<Instance>,
    /// SQLite: the parked instances, the last parked last.
    pub(super) parked_order: Vec<usize>,
    pub(super) steps: Vec<Step>,
    pub(super) choices: Vec<Choice>,
    last_step_instance: Option<usize>,
    pub(super) deadlock_at: Option<usize>,
    /// How long without any progress before the run is stopped.
    pub(super) patience: Duration,
    pub(super) progress: Instant,
    /// How long a lone SQLite writer tries again before it hears SQLITE_BUSY.
    pub(super) lock_timeout: Duration,
    pub(super) lonely_since: Option<Instant>,
}

/// Something that ended the run early.
pub(super) enum Halt {
    Stuck(String),
    /// A multi-primary cluster's node did not apply another's commit in time.
    Stalled(String),
}

impl<'p, P: BlockingProbe> Runner<'p, P> {
    pub fn new(
        probe: &'p mut P,
        events: mpsc::UnboundedReceiver<(usize, Event)>,
        gates: Vec<Arc<Gate>>,
        ids: Vec<i64>,
        lock_timeout: Duration,
    ) -> Self {
        let instances = gates
            .into_iter()
            .zip(ids)
            .map(|(gate, id)| Instance::new(gate, id));
        Runner {
            probe,
            events,
            instances: instances.collect(),
            parked_order: Vec::new(),
            steps: Vec::new(),
            choices: Vec::new(),
            last_step_instance: None,
            deadlock_at: None,
            patience: lock_timeout + Duration::from_secs(5),
            progress: Instant::now(),
            lock_timeout,
            lonely_since: None,
        }
    }

    /// Runs the schedule: `prefix` gives the first choices, the lowest enabled instance the
    /// rest.
    pub async fn run(mut self, prefix: &[usize]) -> Ran {
        // What the cluster counted before this schedule is not the schedule's.
        let _ = self.probe.cluster_events().await;
        let mut diverged = None;
        let stuck = loop {
            if let Err(halt) = self.settle().await {
                break Some(halt);
            }
            if self.instances.iter().all(Instance::is_done) {
                break None;
            }
            let enabled: Vec<usize> = (0..self.instances.len())
                .filter(|&i| self.instances[i].is_enabled())
                .collect();
            if enabled.is_empty() {
                if let Err(halt) = self.resolve().await {
                    break Some(halt);
                }
                continue;
            }
            let chosen = if enabled.len() == 1 {
                enabled[0]
            } else {
                let depth = self.choices.len();
                let touched: Vec<bool> = self.instances.iter().map(|i| i.touched).collect();
                let wanted = prefix.get(depth).copied();
                let (choice, off) =
                    choose(&enabled, self.last_step_instance, wanted, &touched, depth);
                if let Some(off) = off {
                    diverged.get_or_insert(off);
                }
                let chosen = choice.chosen;
                self.choices.push(Choice {
                    at_step: self.steps.len(),
                    ..choice
                });
                chosen
            };
            self.go(chosen);
        };
        let (stuck, stalled) = self.halted(stuck).await;
        if stuck.is_some() {
            self.unwind().await;
        }
        let mut ran = Ran {
            steps: self.steps,
            choices: self.choices,
            results: Vec::new(),
            gave_up: Vec::new(),
            waited_on_ours: Vec::new(),
            strangers: Vec::new(),
            deadlock_at: self.deadlock_at,
            diverged,
            stuck,
            stalled,
        };
        for instance in self.instances {
            ran.results.push(instance.result.unwrap_or_else(|| {
                Err(IncrementError::Database(DbFailure::ours(
                    crate::model::ErrorClass::Internal,
                    "the instance did not finish",
                )))
            }));
            ran.gave_up.push(instance.gave_up);
            ran.waited_on_ours.push(instance.waited_on_ours);
            ran.strangers.push(instance.stranger);
        }
        ran
    }

    /// Lets instance `i`'s statement go (at its gate, or parked after SQLITE_BUSY).
    pub(super) fn go(&mut self, i: usize) {
        let phase = std::mem::replace(&mut self.instances[i].phase, Phase::Working);
        let (statement, go) = match phase {
            Phase::AtGate { statement, go } | Phase::Parked { statement, go } => (statement, go),
            other => {
                self.instances[i].phase = other;
                return;
            }
        };
        if statement.effect != Effect::Local {
            self.instances[i].touched = true;
            self.last_step_instance = Some(i);
        }
        let step = self.steps.len();
        self.steps.push(Step {
            instance: i,
            statement,
            answer: None,
            waited_for: None,
            resumed_after: None,
            would_block: false,
            cluster: None,
        });
        self.instances[i].phase = Phase::Sent {
            step,
            since: Instant::now(),
            looked: false,
            blocked: None,
            waited: false,
        };
        self.probe.changed();
        let _ = go.send(());
    }

    pub(super) fn apply(&mut self, i: usize, event: Event) {
        self.progress = Instant::now();
        match event {
            Event::Identified { id } => self.instances[i].id = id,
            Event::Ready { statement, go } => {
                self.instances[i].phase =
                    match std::mem::take(&mut self.instances[i].resend_pending) {
                        true => {
                            self.parked_order.retain(|&p| p != i);
                            self.parked_order.push(i);
                            Phase::Parked { statement, go }
                        }
                        false => Phase::AtGate { statement, go },
                    };
            }
            Event::Answered {
                answer,
                would_block,
            } => self.answered(i, answer, would_block),
            Event::Finished { result } => {
                self.instances[i].result = Some(result);
                self.instances[i].phase = Phase::Done;
            }
        }
    }

    fn answered(&mut self, i: usize, answer: Result<Answer, DbFailure>, would_block: bool) {
        let Phase::Sent { step, waited, .. } =
            std::mem::replace(&mut self.instances[i].phase, Phase::Working)
        else {
            return;
        };
        self.probe.changed();
        let failed = answer.as_ref().err().map(|f| f.refusal());
        if waited {
            // What let it go: the last step another instance sent (whether or not its own
            // answer has arrived yet, which is a race).
            let later = self.steps.iter().enumerate().skip(step + 1).rev();
            let mut released = later.filter(|(_, s)| s.instance != i);
            let released = released.find(|(_, s)| s.statement.effect != Effect::Local);
            self.steps[step].resumed_after = released.map(|(index, _)| index);
        }
        if let Some(Some(Refusal::Deadlock)) = failed {
            self.deadlock_at.get_or_insert(self.choices.len());
        }
        if let Some(Some(Refusal::LockTimeout)) = failed
            && self.instances[i].waited_on_ours
        {
            // A deadlock the database did not see (MariaDB's table locks): ended by the
            // lock timeout.
            self.deadlock_at.get_or_insert(self.choices.len());
        }
        let effect = self.steps[step].statement.effect;
        self.steps[step].answer = Some(answer);
        if would_block {
            self.steps[step].would_block = true;
            self.steps[step].waited_for = Some("the database's write lock (SQLITE_BUSY)".into());
            self.instances[i].resend_pending = true;
            return;
        }
        // Any step may end another's wait, not only a release: a new lock request can make
        // the database pick a waiting session as a deadlock's victim.
        let releases = effect == Effect::Releases || failed.is_some();
        self.look_again_at_blocked(step, releases);
    }

    /// After `step`: every blocked instance is unconfirmed again (asked again), in order; and
    /// when the step let go of a lock (`releases`), SQLite's parked ones are sent again.
    fn look_again_at_blocked(&mut self, step: usize, releases: bool) {
        for i in 0..self.instances.len() {
            match &mut self.instances[i].phase {
                Phase::Sent {
                    blocked, looked, ..
                } if blocked.is_some() => {
                    *blocked = None;
                    *looked = false;
                }
                Phase::Parked { .. } if releases => {
                    let parked = self.steps.iter_mut().rev().find(|s| s.instance == i);
                    if let Some(parked) = parked {
                        parked.resumed_after = Some(step);
                    }
                    self.go(i);
                }
                _ => {}
            }
        }
    }

    /// Waits until every instance is at its gate with a statement another could notice,
    /// blocked, parked or finished.
    async fn settle(&mut self) -> Result<(), Halt> {
        loop {
            while let Ok((i, event)) = self.events.try_recv() {
                self.apply(i, event);
            }
            let working = self
                .instances
                .iter()
                .any(|i| matches!(i.phase, Phase::Working));
            let unconfirmed: Vec<usize> = (0..self.instances.len())
                .filter(|&i| self.instances[i].is_unconfirmed())
                .collect();
            if !working && unconfirmed.is_empty() {
                // Quiet: statements no other session can notice go now, one at a time, the
                // lowest session first (the order the instances reach their gates is a race).
                let local =
                    (0..self.instances.len()).find(|&i| self.instances[i].has_local_statement());
                match local {
                    Some(i) => {
                        self.go(i);
                        continue;
                    }
                    None => return self.settle_replicas(true).await,
                }
            }
            let wait = match unconfirmed.is_empty() {
                true => self.patience,
                false => self.next_look(&unconfirmed),
            };
            match tokio::time::timeout(wait, self.events.recv()).await {
                Ok(Some((i, event))) => {
                    self.apply(i, event);
                    continue;
                }
                Ok(None) => return Err(Halt::Stuck("the instances went away".into())),
                Err(_) => {}
            }
            self.look_at(&unconfirmed).await;
            if self.progress.elapsed() > self.patience {
                return Err(Halt::Stuck(self.describe_stuck()));
            }
        }
    }
}
