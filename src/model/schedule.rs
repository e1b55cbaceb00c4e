//! What one schedule of two (or three) increments did, classified in the words the lab uses;
//! and a cell's verdict over every schedule. A pure rule with a table-driven test, as
//! `outcome.rs` is for a race.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::outcome::Verdict;

/// How one instance of the method ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceEnd {
    /// Committed; the count it wrote, when the method knows it.
    Acknowledged(Option<i64>),
    /// Refused and rolled back: nothing applied (`code`: the engine's, or ours).
    Refused { code: String },
    /// Chosen as a deadlock's victim (detected by the database, or a lock timeout while it
    /// waited for another instance of the schedule).
    Deadlock { code: String },
    /// Its lock wait timed out on a lock held outside the schedule.
    TimedOut { code: String },
    /// A multi-primary cluster stalled under it (a node never applied another's commit) and
    /// was restarted: whether it was applied is unknown.
    Stalled { cause: String },
    /// Failed in a way that does not say whether it was applied.
    Unknown { cause: String },
    /// An application's request answered not 2xx while its connection heard no database
    /// error: the application failed; its increment may have been applied before.
    ApplicationError { status: u16 },
}

/// The class of a schedule, from the best to the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleClass {
    /// Every instance committed and the counter moved by their number, none waited.
    Exact,
    /// The same, and some instance waited for another's lock first.
    ExactAfterWait,
    /// Some instance was refused (a retry would succeed); nothing acknowledged was lost.
    Refused,
    /// Some instance was a deadlock's victim.
    Deadlock,
    /// Some instance's lock wait timed out on a lock held outside the schedule.
    Timeout,
    /// The cluster stalled (a node never applied another's commit) and was restarted.
    Stalled,
    /// Some application's request failed with no database error (a 5xx of its own).
    AppError,
    /// Some instance failed without saying whether it was applied.
    Unknown,
    /// Two acknowledged instances wrote the same count (a lost update the count may hide).
    Duplicate,
    /// The counter moved by more than was acknowledged.
    Extra,
    /// Acknowledged increments are missing from the counter.
    Lost,
}

impl ScheduleClass {
    pub const ALL: [ScheduleClass; 11] = [
        ScheduleClass::Exact,
        ScheduleClass::ExactAfterWait,
        ScheduleClass::Refused,
        ScheduleClass::Deadlock,
        ScheduleClass::Timeout,
        ScheduleClass::Stalled,
        ScheduleClass::AppError,
        ScheduleClass::Unknown,
        ScheduleClass::Duplicate,
        ScheduleClass::Extra,
        ScheduleClass::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleClass::Exact => "exact",
            ScheduleClass::ExactAfterWait => "exact after a wait",
            ScheduleClass::Refused => "refused",
            ScheduleClass::Deadlock => "deadlock",
            ScheduleClass::Timeout => "timeout",
            ScheduleClass::Stalled => "cluster stalled",
            ScheduleClass::AppError => "app error",
            ScheduleClass::Unknown => "unknown",
            ScheduleClass::Duplicate => "duplicate counts",
            ScheduleClass::Extra => "extra",
            ScheduleClass::Lost => "lost",
        }
    }

    /// The name used in files (`exact_after_wait`).
    pub fn key(self) -> &'static str {
        match self {
            ScheduleClass::Exact => "exact",
            ScheduleClass::ExactAfterWait => "exact_after_wait",
            ScheduleClass::Refused => "refused",
            ScheduleClass::Deadlock => "deadlock",
            ScheduleClass::Timeout => "timeout",
            ScheduleClass::Stalled => "stalled",
            ScheduleClass::AppError => "app_error",
            ScheduleClass::Unknown => "unknown",
            ScheduleClass::Duplicate => "duplicate",
            ScheduleClass::Extra => "extra",
            ScheduleClass::Lost => "lost",
        }
    }

    /// Whether a schedule of this class keeps the promise: every increment applied once.
    pub fn is_exact(self) -> bool {
        matches!(self, ScheduleClass::Exact | ScheduleClass::ExactAfterWait)
    }

    /// Whether acknowledged increments were lost or counted twice.
    pub fn violates_invariant(self) -> bool {
        matches!(
            self,
            ScheduleClass::Lost | ScheduleClass::Extra | ScheduleClass::Duplicate
        )
    }

    /// Classifies a schedule from how its instances ended, the counter before (`start`) and
    /// after it (`after`; None: could not be read), and whether any instance waited.
    pub fn classify(
        start: i64,
        ends: &[InstanceEnd],
        after: Option<i64>,
        waited: bool,
    ) -> ScheduleClass {
        let Some(after) = after else {
            return ScheduleClass::Unknown;
        };
        let acknowledged = ends
            .iter()
            .filter(|end| matches!(end, InstanceEnd::Acknowledged(_)))
            .count() as i64;
        // An application's error may come after its commit: at most applied, like an unknown.
        let unknown = ends
            .iter()
            .filter(|end| {
                matches!(
                    end,
                    InstanceEnd::Unknown { .. }
                        | InstanceEnd::ApplicationError { .. }
                        | InstanceEnd::Stalled { .. }
                )
            })
            .count() as i64;
        let change = after - start;
        if change < acknowledged {
            return ScheduleClass::Lost;
        }
        if change > acknowledged + unknown {
            return ScheduleClass::Extra;
        }
        let mut written: Vec<i64> = ends
            .iter()
            .filter_map(|end| match end {
                InstanceEnd::Acknowledged(count) => *count,
                _ => None,
            })
            .collect();
        written.sort_unstable();
        if written.windows(2).any(|pair| pair[0] == pair[1]) {
            return ScheduleClass::Duplicate;
        }
        let has = |wanted: fn(&InstanceEnd) -> bool| ends.iter().any(wanted);
        if has(|end| matches!(end, InstanceEnd::Unknown { .. })) {
            ScheduleClass::Unknown
        } else if has(|end| matches!(end, InstanceEnd::ApplicationError { .. })) {
            ScheduleClass::AppError
        } else if has(|end| matches!(end, InstanceEnd::Stalled { .. })) {
            ScheduleClass::Stalled
        } else if has(|end| matches!(end, InstanceEnd::TimedOut { .. })) {
            ScheduleClass::Timeout
        } else if has(|end| matches!(end, InstanceEnd::Deadlock { .. })) {
            ScheduleClass::Deadlock
        } else if has(|end| matches!(end, InstanceEnd::Refused { .. })) {
            ScheduleClass::Refused
        } else if waited {
            ScheduleClass::ExactAfterWait
        } else {
            ScheduleClass::Exact
        }
    }
}

impl fmt::Display for ScheduleClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cell's verdict over its schedules: "+" only when every schedule was exact and none was
/// left out (`cut`: schedules the caps did not run); "~" not proven when every schedule run
/// was exact but some were left out; otherwise "-" and the worst class. None when no schedule
/// ran.
pub fn cell_verdict(
    classes: &BTreeMap<ScheduleClass, u64>,
    cut: u64,
) -> Option<(Verdict, ScheduleClass)> {
    let worst = *classes.keys().max()?;
    let verdict = match (worst.is_exact(), cut) {
        (true, 0) => Verdict::Exact,
        (true, _) => Verdict::NotProven,
        (false, _) => Verdict::NotExact,
    };
    Some((verdict, worst))
}

/// The starting state of a cell's schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartState {
    /// The row exists with count 0.
    Exists,
    /// The row is absent: the creation race is part of every schedule.
    Absent,
}

impl StartState {
    pub fn as_str(self) -> &'static str {
        match self {
            StartState::Exists => "exists",
            StartState::Absent => "absent",
        }
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
