//! What one schedule did, as the runner hands it to the explorer and the record: its steps
//! with their answers and waits, the choices made, and how each instance ended.

use super::choose::Choice;
use crate::model::statement::{Answer, Statement};
use crate::model::{DbFailure, IncrementError};

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
    /// What a multi-primary cluster did once this step was answered, as its nodes count it
    /// (a certification failure, a brute-force abort).
    pub cluster: Option<String>,
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
    /// Set when the stop was a multi-primary cluster that stalled (a node never applied
    /// another's commit): why, and how the cluster was brought back.
    pub stalled: Option<String>,
}

impl Ran {
    pub fn waited(&self) -> bool {
        self.steps
            .iter()
            .any(|step| step.waited_for.is_some() || step.would_block)
    }
}
