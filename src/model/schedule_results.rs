//! What `counter schedules` produces and its renderers consume: every cell's schedules, each
//! with its statements as they ran, and the cell's verdict. Timings are kept apart (`*_ms`
//! fields) so that two runs can be compared: everything else is the same for the same input.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::isolation::{Isolation, IsolationScope};
use super::method::{MethodScript, NotApplicable};
use super::outcome::{Outcome, Verdict};
use super::schedule::{ScheduleClass, StartState};

/// One statement of a schedule, as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The session that sent it: 1 for T1, 2 for T2, ...
    pub session: u32,
    /// The statement with its bound values written in.
    pub sql: String,
    /// What it answered: the value read, the rows written, or the error with its code.
    pub answer: String,
    /// What kind of answer that was, for the renderers that draw it (which step failed,
    /// which wrote), so that none of them reads `answer`'s words.
    #[serde(default)]
    pub kind: AnswerKind,
    /// What it waited for, when it was seen blocked (`row lock, held by T1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_for: Option<String>,
    /// The step (index into the schedule's steps) after which it went on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_after: Option<usize>,
    /// A statement no other session can notice (`BEGIN`, `SAVEPOINT`): sent without a
    /// choice.
    pub local: bool,
    /// What a multi-primary cluster's nodes counted once it was answered (a certification
    /// failure, a brute-force abort), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// The kind of a statement's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// No answer came (the schedule ended first).
    #[default]
    None,
    /// The database refused it (an error with its code).
    Failed,
    /// It read rows (or none).
    Read,
    /// It wrote rows.
    Wrote,
    /// It answered nothing to show (`BEGIN`, `SET`, ...).
    Done,
}

/// One schedule: the order its steps ran in, what each did, and its class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    /// The session of each step another could notice, in order (`[1, 2, 1, 1, 2, 2]`).
    pub order: Vec<u32>,
    /// How often the order goes from one session to another.
    pub switches: u32,
    pub class: ScheduleClass,
    /// The last line, in words: what happened and why.
    pub summary: String,
    pub steps: Vec<StepRecord>,
    /// How each session's increment ended, in words.
    pub ends: Vec<String>,
    /// The counter after the schedule (None: it could not be read).
    pub final_count: Option<i64>,
}

/// One cell: a method at a level from a starting state, every schedule of its instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleCell {
    pub isolation: Isolation,
    pub method: u32,
    pub method_name: String,
    pub start: StartState,
    /// Instances of the method in each schedule: the run's (`SchedulesMeta::sessions`), or
    /// three where `matrix --schedules` looked further for what a race showed.
    #[serde(default = "two_sessions")]
    pub sessions: u32,
    /// "+": every schedule exact; "-": some schedule was not; "~": every schedule run was
    /// exact, but the caps left some out (not proven).
    pub verdict: Verdict,
    pub worst: ScheduleClass,
    /// How many schedules had each class.
    pub classes: BTreeMap<ScheduleClass, u64>,
    /// Schedules not run because of `--max-switches` (each cut branch holds at least one).
    pub cut_by_switches: u64,
    /// Schedules not run because the cell reached `--max-schedules`.
    pub cut_by_cap: u64,
    /// Schedules not run because a multi-primary cluster stalled in one (the stall is the
    /// cell's verdict; each further one would cost a node's restart).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cut_by_stall: u64,
    /// Schedules that could not follow their choices (the database took another turn).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diverged: Vec<String>,
    /// The schedules kept: the shortest of each class (fewest switches, then the first
    /// explored), or every one when all were asked for (`explain --all`). The counts are in
    /// `classes`: an exploration's memory does not grow with the schedules it runs.
    pub schedules: Vec<ScheduleRecord>,
    /// Wall time of the cell (the only field that differs between two runs).
    pub elapsed_ms: f64,
    /// A race run beside the schedules (`counter app --race`), in the hammer's terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub race: Option<CellRace>,
}

/// A race beside a cell's schedules: N requests at once, how they ended and what the counter
/// did, classified as `counter hammer` classifies a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRace {
    pub requests: u64,
    /// Answered 2xx.
    pub acknowledged: u64,
    /// The counter's change.
    pub change: i64,
    pub outcome: Outcome,
    pub verdict: Verdict,
    /// The whole of it in words (answers, refusals heard, overlap).
    pub summary: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn two_sessions() -> u32 {
    2
}

impl ScheduleCell {
    /// How many schedules ran.
    pub fn schedules_run(&self) -> u64 {
        self.classes.values().sum()
    }

    /// The first schedule of each class: fewest switches, then the earliest explored.
    pub fn shortest(&self, class: ScheduleClass) -> Option<&ScheduleRecord> {
        let of_class = self.schedules.iter().filter(|s| s.class == class);
        of_class.min_by_key(|s| s.switches)
    }
}

/// Facts about a `counter schedules` run as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulesMeta {
    pub engine: String,
    pub server_version: String,
    pub levels: Vec<Isolation>,
    pub methods: Vec<u32>,
    pub starts: Vec<StartState>,
    /// Instances of the method in each schedule.
    pub sessions: u32,
    pub max_switches: Option<u32>,
    pub max_schedules: u64,
    pub isolation_scope: IsolationScope,
    /// Whether only schedules in which untouched sessions start in order were run (the
    /// instances are the same method: the others are their mirror images).
    pub symmetry: bool,
    pub lock_timeout_ms: u64,
    /// PostgreSQL's deadlock_timeout the sessions ran with (None: the database's own).
    pub deadlock_timeout_ms: Option<u64>,
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    pub machine: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_script: Option<MethodScript>,
    pub schedules_run: u64,
    /// Wall time of the whole run.
    pub wall_ms: f64,
    /// Stopped by Ctrl-C: only the cells explored so far are in the result.
    #[serde(default)]
    pub interrupted: bool,
}

impl SchedulesResult {
    /// The verdict of `method` at `level` over both starting states (the worst class of
    /// either), None when it was not explored.
    pub fn verdict_for(&self, level: Isolation, method: u32) -> Option<(Verdict, ScheduleClass)> {
        let cells: Vec<&ScheduleCell> = self
            .cells
            .iter()
            .filter(|c| c.isolation == level && c.method == method)
            .collect();
        let worst = cells.iter().map(|c| c.worst).max()?;
        let verdict = cells.iter().map(|c| c.verdict).max_by_key(|v| v.weight())?;
        Some((verdict, worst))
    }

    /// The schedule that decides `method` at `level`: the shortest of the worst class over
    /// both starting states (and every number of sessions explored), with its cell.
    pub fn deciding_schedule(
        &self,
        level: Isolation,
        method: u32,
    ) -> Option<(&ScheduleCell, &ScheduleRecord)> {
        let (_, worst) = self.verdict_for(level, method)?;
        let cells = self.cells.iter();
        let cells = cells.filter(|c| c.isolation == level && c.method == method);
        let candidates = cells.filter_map(|c| Some((c, c.shortest(worst)?)));
        candidates.min_by_key(|(cell, schedule)| (cell.sessions, schedule.switches))
    }
}

/// How a race's verdict and the schedules' compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    Same,
    /// The race was "+", but some schedule loses, doubles or refuses: the race was lucky.
    Hollow,
    /// The race was "-", but no schedule of two sessions shows it: it needs more sessions,
    /// or the race saw something else (a finding to explain).
    RaceOnly,
    /// The race did not decide ("?").
    Undecided,
}

impl Agreement {
    pub fn of(race: Verdict, schedules: Verdict) -> Agreement {
        match (race, schedules) {
            (Verdict::Inconclusive | Verdict::NoVerdict | Verdict::NotProven, _)
            | (_, Verdict::NoVerdict | Verdict::NotProven) => Agreement::Undecided,
            (Verdict::Exact, Verdict::NotExact) => Agreement::Hollow,
            (Verdict::NotExact, Verdict::Exact) => Agreement::RaceOnly,
            _ => Agreement::Same,
        }
    }
}

/// Every cell of one engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulesResult {
    pub meta: SchedulesMeta,
    pub cells: Vec<ScheduleCell>,
    #[serde(default)]
    pub not_applicable: Vec<NotApplicable>,
}

#[cfg(test)]
mod tests {
    use super::Agreement;
    use crate::model::Verdict::{Exact, Inconclusive, NotExact};

    #[test]
    fn a_race_and_its_schedules_agree_or_say_how_not() {
        let cases = [
            (Exact, Exact, Agreement::Same),
            (NotExact, NotExact, Agreement::Same),
            (Exact, NotExact, Agreement::Hollow),
            (NotExact, Exact, Agreement::RaceOnly),
            (Inconclusive, NotExact, Agreement::Undecided),
        ];
        for (race, schedules, agreement) in cases {
            assert_eq!(
                Agreement::of(race, schedules),
                agreement,
                "{race} / {schedules}"
            );
        }
    }
}
