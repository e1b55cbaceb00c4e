//! A schedule as it ran, written down: each statement with its answer and its wait, how each
//! instance ended, the class, and a last line in plain words.

use super::run::{GaveUp, Ran, Step};
use super::summary::summary;
use crate::model::schedule::{InstanceEnd, ScheduleClass};
use crate::model::schedule_results::{AnswerKind, ScheduleRecord, StepRecord};
use crate::model::statement::{Effect, Fetch};
use crate::model::{ErrorClass, IncrementError, MethodId, Refusal};

/// The record of `ran`, whose counter started at `start` and ended at `after`.
pub(super) fn record(
    ran: &Ran,
    method: MethodId,
    start: i64,
    after: Option<i64>,
) -> ScheduleRecord {
    let ends: Vec<InstanceEnd> = (0..ran.results.len())
        .map(|i| instance_end(ran, i, method))
        .collect();
    let class = ScheduleClass::classify(start, &ends, after, ran.waited());
    let order: Vec<u32> = ran
        .steps
        .iter()
        .filter(|step| step.statement.effect != Effect::Local)
        .map(|step| step.instance as u32 + 1)
        .collect();
    let switches = order.windows(2).filter(|pair| pair[0] != pair[1]).count() as u32;
    ScheduleRecord {
        switches,
        class,
        summary: summary(ran, &ends, class, start, after),
        steps: ran.steps.iter().map(step_record).collect(),
        ends: ends
            .iter()
            .enumerate()
            .map(|(i, end)| end_words(i, end))
            .collect(),
        final_count: after,
        order,
    }
}

fn step_record(step: &Step) -> StepRecord {
    StepRecord {
        session: step.instance as u32 + 1,
        sql: step.statement.shown(),
        answer: answer_words(step),
        kind: answer_kind(step),
        waited_for: step.waited_for.clone(),
        resumed_after: step.resumed_after,
        local: step.statement.effect == Effect::Local,
        cluster: step.cluster.clone(),
    }
}

fn answer_kind(step: &Step) -> AnswerKind {
    match &step.answer {
        None => AnswerKind::None,
        Some(Err(_)) => AnswerKind::Failed,
        Some(Ok(_)) => match step.statement.fetch {
            Fetch::Rows => AnswerKind::Read,
            Fetch::Nothing => AnswerKind::Done,
            Fetch::Written => AnswerKind::Wrote,
        },
    }
}

/// What a statement answered, in words.
fn answer_words(step: &Step) -> String {
    match &step.answer {
        None => "(no answer)".to_string(),
        Some(Err(failure)) => {
            let code = failure.code().or(failure.sqlstate.as_deref()).unwrap_or("");
            let waited = match step.would_block {
                true => " (would wait: sent again once the lock may be free)",
                false => "",
            };
            format!("ERROR {code}: {}{waited}", failure.message)
        }
        Some(Ok(answer)) => match step.statement.fetch {
            Fetch::Rows if !answer.has_row() => "no row".to_string(),
            Fetch::Rows => {
                let columns: Vec<String> = answer
                    .first_row
                    .iter()
                    .map(|(name, value)| match value {
                        Ok(Some(v)) => format!("{name} = {v}"),
                        Ok(None) => format!("{name} = NULL"),
                        Err(kind) => format!("{name} ({kind})"),
                    })
                    .collect();
                let more = match answer.rows {
                    0 | 1 => String::new(),
                    n => format!(" ({n} rows)"),
                };
                format!("{}{more}", columns.join(", "))
            }
            Fetch::Nothing => "ok".to_string(),
            Fetch::Written => match answer.rows {
                1 => "1 row written".to_string(),
                n => format!("{n} rows written"),
            },
        },
    }
}

/// How instance `i` ended, for the classification.
fn instance_end(ran: &Ran, i: usize, method: MethodId) -> InstanceEnd {
    let code_of = |code: Option<&str>| code.unwrap_or("").to_string();
    // A cluster stalled under the run and was restarted: what had not ended has no known fate.
    if let (Some(why), Err(_)) = (&ran.stalled, &ran.results[i]) {
        return InstanceEnd::Stalled { cause: why.clone() };
    }
    // The explorer stopped a run that made no progress and cancelled what was running: an
    // instance that then failed timed out (the cancel's error is the explorer's doing, not a
    // refusal a retry would get past).
    if let (Some(why), Err(_)) = (&ran.stuck, &ran.results[i]) {
        return InstanceEnd::TimedOut {
            code: format!("stopped by the explorer: {why}"),
        };
    }
    match &ran.results[i] {
        Ok(count) => InstanceEnd::Acknowledged(match method.count_is() {
            None => *count,
            Some(_) => None,
        }),
        Err(IncrementError::Database(failure)) => {
            let code = code_of(failure.code());
            match failure.class {
                ErrorClass::Rejected {
                    refusal: Refusal::Deadlock,
                    ..
                } => InstanceEnd::Deadlock { code },
                ErrorClass::Rejected {
                    refusal: Refusal::LockTimeout,
                    ..
                } if ran.waited_on_ours[i] => InstanceEnd::Deadlock { code },
                ErrorClass::Rejected {
                    refusal: Refusal::LockTimeout,
                    ..
                } => InstanceEnd::TimedOut { code },
                ErrorClass::Rejected {
                    refusal: Refusal::Busy,
                    ..
                } => match ran.gave_up[i] {
                    GaveUp::Deadlock => InstanceEnd::Deadlock { code },
                    GaveUp::Stranger => InstanceEnd::TimedOut { code },
                    GaveUp::No => InstanceEnd::Refused { code },
                },
                ErrorClass::Rejected { .. } => InstanceEnd::Refused { code },
                // No connection (NotSent) is no verdict on the method either: the schedule
                // did not run as chosen.
                ErrorClass::Ambiguous
                | ErrorClass::Unavailable
                | ErrorClass::NotSent
                | ErrorClass::Internal => InstanceEnd::Unknown {
                    cause: failure.detail.clone(),
                },
            }
        }
        Err(IncrementError::LockTimeout(_)) => match ran.waited_on_ours[i] {
            true => InstanceEnd::Deadlock {
                code: "GET_LOCK timeout".into(),
            },
            false => InstanceEnd::TimedOut {
                code: "GET_LOCK timeout".into(),
            },
        },
        Err(
            err @ (IncrementError::CasExhausted(_)
            | IncrementError::RowGone(_)
            | IncrementError::ScriptRefused { .. }
            | IncrementError::ScriptFailed { .. }),
        ) => InstanceEnd::Refused {
            code: err.to_string(),
        },
        Err(IncrementError::DeadlineExceeded { .. }) => InstanceEnd::TimedOut {
            code: "deadline".into(),
        },
        Err(
            err @ (IncrementError::NotApplicable(_) | IncrementError::ScriptPartlyApplied { .. }),
        ) => InstanceEnd::Unknown {
            cause: err.to_string(),
        },
        Err(IncrementError::ApplicationError { status }) => {
            InstanceEnd::ApplicationError { status: *status }
        }
    }
}

fn end_words(i: usize, end: &InstanceEnd) -> String {
    let who = format!("T{}", i + 1);
    match end {
        InstanceEnd::Acknowledged(Some(count)) => format!("{who} committed, wrote {count}"),
        InstanceEnd::Acknowledged(None) => format!("{who} committed"),
        InstanceEnd::Refused { code } => format!("{who} refused ({code})"),
        InstanceEnd::Deadlock { code } => format!("{who} the deadlock's victim ({code})"),
        InstanceEnd::TimedOut { code } => format!("{who} timed out waiting ({code})"),
        InstanceEnd::Unknown { cause } => format!("{who} failed, fate unknown: {cause}"),
        InstanceEnd::Stalled { .. } => format!("{who} ended by the stall, fate unknown"),
        InstanceEnd::ApplicationError { status } => {
            format!("{who} answered HTTP {status} with no database error")
        }
    }
}
