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

use tokio::sync::{mpsc, oneshot};

use super::gate::Event;
use super::gate::Gate;
use crate::engines::blocking::{BlockingProbe, Wait};
use crate::model::statement::{Answer, Effect, Statement};
use crate::model::{DbFailure, IncrementError, Refusal};
use std::sync::Arc;

/// How often an unanswered statement is asked about: first after this long...
const FIRST_LOOK: Duration = Duration::from_millis(2);
/// ...then at this interval.
const LOOK_EVERY: Duration = Duration::from_millis(5);
/// How often a lone SQLite writer waiting on a lock outside the schedule tries again.
const RETRY_BUSY: Duration = Duration::from_millis(50);

/// One statement as it ran.
#[derive(Debug, Clone)]
pub(super) struct Step {
    pub instance: usize,
    pub statement: Statement,
    pub answer: Option<Result<Answer, DbFailure>>,
    /// What it waited for, in words, when it was seen blocked.
    pub waited_for: Option<String>,
    /// The step after which it went on again (the one that let go of the lock).
    pub resumed_after: Option<usize>,
    /// SQLite: it answered SQLITE_BUSY, the step would have waited; sent again later.
    pub would_block: bool,
}

/// A point where more than one instance could go.
#[derive(Debug, Clone)]
pub(super) struct Choice {
    pub enabled: Vec<usize>,
    pub chosen: usize,
    /// The enabled instances that have not yet sent a statement another could notice:
    /// interchangeable, since the instances are the same method.
    pub untouched: Vec<usize>,
    /// The instance of the step before, if it could have gone on (choosing another is then a
    /// switch that counts against `--max-switches`).
    pub preempted: Option<usize>,
}

/// Why an instance's end is what it is, beyond its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GaveUp {
    No,
    /// SQLite: every instance was waiting for another; SQLite answers one of them BUSY at once.
    Deadlock,
    /// It waited for a lock held outside the schedule until the lock timeout.
    Stranger,
}

/// What a schedule did.
#[derive(Debug)]
pub(super) struct Ran {
    pub steps: Vec<Step>,
    pub choices: Vec<Choice>,
    pub results: Vec<Result<Option<i64>, IncrementError>>,
    pub gave_up: Vec<GaveUp>,
    /// Per instance: whether its last wait was for another instance (a lock timeout then ends
    /// a deadlock the database did not detect).
    pub waited_on_ours: Vec<bool>,
    /// Per instance: a connection outside the schedule it was seen waiting for.
    pub strangers: Vec<Option<String>>,
    /// The number of choices made before the first deadlock (nothing after it is explored:
    /// which instance the database picks as the victim is not deterministic).
    pub deadlock_at: Option<usize>,
    /// Set when the run could not follow its choices (the database took another turn).
    pub diverged: Option<String>,
    /// Set when the run got stuck and was stopped.
    pub stuck: Option<String>,
}

impl Ran {
    pub fn waited(&self) -> bool {
        self.steps
            .iter()
            .any(|step| step.waited_for.is_some() || step.would_block)
    }
}

enum Phase {
    /// In its own code (starting, or between statements).
    Working,
    AtGate {
        statement: Statement,
        go: oneshot::Sender<()>,
    },
    /// Sent; `blocked`: seen waiting for another instance (`on`) or for an unknown holder,
    /// and not looked at again since; `waited`: seen waiting at some point.
    Sent {
        step: usize,
        since: Instant,
        looked: bool,
        blocked: Option<Vec<usize>>,
        waited: bool,
    },
    /// SQLite: would block; waits to be sent again.
    Parked {
        statement: Statement,
        go: oneshot::Sender<()>,
    },
    Done,
}

/// One schedule's run.
pub(super) struct Runner<'p, P: BlockingProbe> {
    probe: &'p mut P,
    events: mpsc::UnboundedReceiver<(usize, Event)>,
    gates: Vec<Arc<Gate>>,
    ids: Vec<i64>,
    phases: Vec<Phase>,
    touched: Vec<bool>,
    resend_pending: Vec<bool>,
    parked_order: Vec<usize>,
    results: Vec<Option<Result<Option<i64>, IncrementError>>>,
    gave_up: Vec<GaveUp>,
    waited_on_ours: Vec<bool>,
    strangers: Vec<Option<String>>,
    steps: Vec<Step>,
    choices: Vec<Choice>,
    last_step_instance: Option<usize>,
    deadlock_at: Option<usize>,
    /// How long without any progress before the run is stopped.
    patience: Duration,
    progress: Instant,
    /// How long a lone SQLite writer tries again before it hears SQLITE_BUSY.
    lock_timeout: Duration,
    lonely_since: Option<Instant>,
}

/// Something that ended the run early.
enum Halt {
    Stuck(String),
}

impl<'p, P: BlockingProbe> Runner<'p, P> {
    pub fn new(
        probe: &'p mut P,
        events: mpsc::UnboundedReceiver<(usize, Event)>,
        gates: Vec<Arc<Gate>>,
        ids: Vec<i64>,
        lock_timeout: Duration,
    ) -> Self {
        let n = gates.len();
        Runner {
            probe,
            events,
            gates,
            ids,
            phases: (0..n).map(|_| Phase::Working).collect(),
            touched: vec![false; n],
            resend_pending: vec![false; n],
            parked_order: Vec::new(),
            results: (0..n).map(|_| None).collect(),
            gave_up: vec![GaveUp::No; n],
            waited_on_ours: vec![false; n],
            strangers: vec![None; n],
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
        let mut diverged = None;
        let stuck = loop {
            if let Err(Halt::Stuck(why)) = self.settle().await {
                break Some(why);
            }
            if self.phases.iter().all(|p| matches!(p, Phase::Done)) {
                break None;
            }
            let enabled: Vec<usize> = (0..self.phases.len())
                .filter(|&i| matches!(self.phases[i], Phase::AtGate { .. }))
                .collect();
            if enabled.is_empty() {
                if let Err(Halt::Stuck(why)) = self.resolve().await {
                    break Some(why);
                }
                continue;
            }
            let chosen = if enabled.len() == 1 {
                enabled[0]
            } else {
                let depth = self.choices.len();
                let preempted = self
                    .last_step_instance
                    .filter(|last| enabled.contains(last));
                // Unless the choices say otherwise, the instance that just ran goes on: only
                // the alternatives explored later switch away from it.
                let default = preempted.unwrap_or(enabled[0]);
                let chosen = match prefix.get(depth) {
                    Some(&wanted) if enabled.contains(&wanted) => wanted,
                    Some(&wanted) => {
                        diverged.get_or_insert(format!(
                            "choice {}: T{} was to go, but only {:?} could",
                            depth + 1,
                            wanted + 1,
                            enabled.iter().map(|i| i + 1).collect::<Vec<_>>()
                        ));
                        default
                    }
                    None => default,
                };
                let untouched = enabled
                    .iter()
                    .copied()
                    .filter(|&i| !self.touched[i])
                    .collect();
                self.choices.push(Choice {
                    enabled: enabled.clone(),
                    chosen,
                    untouched,
                    preempted,
                });
                chosen
            };
            self.go(chosen);
        };
        if stuck.is_some() {
            self.unwind().await;
        }
        let results = self
            .results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err(IncrementError::Database(DbFailure::ours(
                        crate::model::ErrorClass::Internal,
                        "the instance did not finish",
                    )))
                })
            })
            .collect();
        Ran {
            steps: self.steps,
            choices: self.choices,
            results,
            gave_up: self.gave_up,
            waited_on_ours: self.waited_on_ours,
            strangers: self.strangers,
            deadlock_at: self.deadlock_at,
            diverged,
            stuck,
        }
    }

    /// Lets instance `i`'s statement go (at its gate, or parked after SQLITE_BUSY).
    fn go(&mut self, i: usize) {
        let phase = std::mem::replace(&mut self.phases[i], Phase::Working);
        let (statement, go) = match phase {
            Phase::AtGate { statement, go } | Phase::Parked { statement, go } => (statement, go),
            other => {
                self.phases[i] = other;
                return;
            }
        };
        if statement.effect != Effect::Local {
            self.touched[i] = true;
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
        });
        self.phases[i] = Phase::Sent {
            step,
            since: Instant::now(),
            looked: false,
            blocked: None,
            waited: false,
        };
        self.probe.changed();
        let _ = go.send(());
    }

    fn apply(&mut self, i: usize, event: Event) {
        self.progress = Instant::now();
        match event {
            Event::Ready { statement, go } => {
                self.phases[i] = match std::mem::take(&mut self.resend_pending[i]) {
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
                self.results[i] = Some(result);
                self.phases[i] = Phase::Done;
            }
        }
    }

    fn answered(&mut self, i: usize, answer: Result<Answer, DbFailure>, would_block: bool) {
        let Phase::Sent { step, waited, .. } =
            std::mem::replace(&mut self.phases[i], Phase::Working)
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
            && self.waited_on_ours[i]
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
            self.resend_pending[i] = true;
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
        for i in 0..self.phases.len() {
            match &mut self.phases[i] {
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
            let working = self.phases.iter().any(|p| matches!(p, Phase::Working));
            let unconfirmed: Vec<usize> = (0..self.phases.len())
                .filter(|&i| matches!(self.phases[i], Phase::Sent { blocked: None, .. }))
                .collect();
            if !working && unconfirmed.is_empty() {
                // Quiet: statements no other session can notice go now, one at a time, the
                // lowest session first (the order the instances reach their gates is a race).
                let local = (0..self.phases.len()).find(|&i| {
                    matches!(&self.phases[i], Phase::AtGate { statement, .. }
                        if statement.effect == Effect::Local)
                });
                match local {
                    Some(i) => {
                        self.go(i);
                        continue;
                    }
                    None => return Ok(()),
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

    /// How long until the first of `unconfirmed` is due to be asked about.
    fn next_look(&self, unconfirmed: &[usize]) -> Duration {
        let due = unconfirmed.iter().filter_map(|&i| match &self.phases[i] {
            Phase::Sent { since, looked, .. } => {
                let after = if *looked { LOOK_EVERY } else { FIRST_LOOK };
                Some(after.saturating_sub(since.elapsed()))
            }
            _ => None,
        });
        due.min()
            .unwrap_or(LOOK_EVERY)
            .max(Duration::from_micros(200))
    }

    /// Asks the database about each unanswered statement.
    async fn look_at(&mut self, unconfirmed: &[usize]) {
        for &i in unconfirmed {
            let Phase::Sent { since, step, .. } = &self.phases[i] else {
                continue;
            };
            let (since, step) = (*since, *step);
            if since.elapsed() < FIRST_LOOK {
                continue;
            }
            let ours: Vec<i64> = (0..self.ids.len())
                .filter(|&j| j != i)
                .map(|j| self.ids[j])
                .collect();
            let wait = self.probe.waits(self.ids[i], &ours).await;
            tracing::debug!(instance = i + 1, ?wait, "asked the database");
            // An answer that came meanwhile wins: the statement is no longer waiting.
            if !matches!(self.phases[i], Phase::Sent { .. }) {
                continue;
            }
            match wait {
                Ok(Wait::OnOurs { holders, lock }) => {
                    // InnoDB lists one row per lock held, so one holder can come twice.
                    let mut on: Vec<usize> = holders
                        .iter()
                        .filter_map(|h| self.ids.iter().position(|id| id == h))
                        .collect();
                    on.sort_unstable();
                    on.dedup();
                    let whom = match on.as_slice() {
                        [] => "another session".to_string(),
                        on => on
                            .iter()
                            .map(|j| format!("T{}", j + 1))
                            .collect::<Vec<_>>()
                            .join(", "),
                    };
                    self.steps[step].waited_for = Some(format!("{lock}, held by {whom}"));
                    self.waited_on_ours[i] = true;
                    if let Phase::Sent {
                        blocked, waited, ..
                    } = &mut self.phases[i]
                    {
                        *blocked = Some(on);
                        *waited = true;
                    }
                    self.progress = Instant::now();
                }
                Ok(Wait::OnStranger { holder, lock }) => {
                    self.waited_on_ours[i] = false;
                    self.strangers[i] = Some(format!("{lock}, held by {holder}"));
                    self.mark_looked(i);
                }
                Ok(Wait::Running | Wait::Unsure) => self.mark_looked(i),
                Err(err) => {
                    tracing::warn!(%err, "the probe could not ask about T{}", i + 1);
                    self.mark_looked(i);
                }
            }
        }
    }

    fn mark_looked(&mut self, i: usize) {
        if let Phase::Sent { looked, since, .. } = &mut self.phases[i] {
            *looked = true;
            *since = Instant::now();
        }
    }

    /// No instance can go: each is blocked (or parked). A server database ends it itself
    /// (its deadlock detector, or the lock timeout): wait for that. SQLite would have answered
    /// BUSY at once: give one instance up.
    async fn resolve(&mut self) -> Result<(), Halt> {
        let unfinished = self
            .phases
            .iter()
            .filter(|p| !matches!(p, Phase::Done))
            .count();
        let running = self.phases.iter().any(|p| matches!(p, Phase::Sent { .. }));
        if unfinished > 1 {
            self.deadlock_at.get_or_insert(self.choices.len());
        }
        if running {
            return match tokio::time::timeout(self.patience, self.events.recv()).await {
                Ok(Some((i, event))) => {
                    self.apply(i, event);
                    Ok(())
                }
                _ => Err(Halt::Stuck(self.describe_stuck())),
            };
        }
        let Some(&last) = self.parked_order.last() else {
            return Err(Halt::Stuck(self.describe_stuck()));
        };
        if unfinished > 1 {
            self.gave_up[last] = GaveUp::Deadlock;
            self.gates[last].give_up();
            self.go(last);
            return Ok(());
        }
        // Alone and parked: the lock is held outside the schedule. Try again until the
        // patience is over, then let the method hear SQLITE_BUSY.
        tokio::time::sleep(RETRY_BUSY).await;
        let lonely = *self.lonely_since.get_or_insert_with(Instant::now);
        if lonely.elapsed() > self.lock_timeout {
            self.gave_up[last] = GaveUp::Stranger;
            self.strangers[last] =
                Some("the database's lock, held by a connection outside the schedule".into());
            self.gates[last].give_up();
        }
        self.go(last);
        Ok(())
    }

    fn describe_stuck(&self) -> String {
        let states: Vec<String> = self
            .phases
            .iter()
            .enumerate()
            .map(|(i, phase)| {
                let state = match phase {
                    Phase::Working => "working".to_string(),
                    Phase::AtGate { statement, .. } => format!("at {}", statement.shown()),
                    Phase::Sent { step, .. } => {
                        format!("running {}", self.steps[*step].statement.shown())
                    }
                    Phase::Parked { statement, .. } => format!("parked at {}", statement.shown()),
                    Phase::Done => "done".to_string(),
                };
                format!("T{}: {state}", i + 1)
            })
            .collect();
        format!(
            "no progress for {:?} ({})",
            self.patience,
            states.join("; ")
        )
    }

    /// After a stop: cancels what runs, gives every instance up and lets each go until all
    /// are done, so that no connection stays waiting or open.
    async fn unwind(&mut self) {
        for gate in &self.gates {
            gate.give_up();
        }
        let deadline = Instant::now() + self.patience;
        while !self.phases.iter().all(|p| matches!(p, Phase::Done)) && Instant::now() < deadline {
            for i in 0..self.phases.len() {
                match self.phases[i] {
                    Phase::AtGate { .. } | Phase::Parked { .. } => self.go(i),
                    Phase::Sent { .. } => {
                        let _ = self.probe.cancel(self.ids[i]).await;
                    }
                    _ => {}
                }
            }
            if let Ok(Some((i, event))) =
                tokio::time::timeout(Duration::from_millis(100), self.events.recv()).await
            {
                self.apply(i, event);
            }
        }
    }
}
