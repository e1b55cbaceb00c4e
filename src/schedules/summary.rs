//! A schedule's last line: what the counter shows against what was expected, and why, in
//! words (the commit order, the values read, the waits, a stall).

use super::run::Ran;
use crate::model::schedule::{InstanceEnd, ScheduleClass};
use crate::model::statement::{Effect, Fetch};

/// The last line: what the counter shows against what was expected, and why, in words.
pub(super) fn summary(
    ran: &Ran,
    ends: &[InstanceEnd],
    class: ScheduleClass,
    start: i64,
    after: Option<i64>,
) -> String {
    let n = ends.len() as i64;
    let got = after.map_or("nothing readable".to_string(), |a| (a - start).to_string());
    let who = |wanted: fn(&InstanceEnd) -> bool| -> Vec<String> {
        let matching = ends.iter().enumerate().filter(|(_, end)| wanted(end));
        matching.map(|(i, _)| format!("T{}", i + 1)).collect()
    };
    let waits: Vec<String> = ran
        .steps
        .iter()
        .filter_map(|step| {
            let on = step.waited_for.as_ref()?;
            Some(format!("T{} waited ({on})", step.instance + 1))
        })
        .collect();
    let waited = match waits.is_empty() {
        true => String::new(),
        false => format!("; {}", waits.join("; ")),
    };
    match class {
        ScheduleClass::Exact => format!("expected {n}, got {got}: each increment saw the other's"),
        ScheduleClass::ExactAfterWait => format!("expected {n}, got {got}{waited}"),
        ScheduleClass::Refused => {
            let refused = who(|e| matches!(e, InstanceEnd::Refused { .. }));
            let codes: Vec<&str> = ends
                .iter()
                .filter_map(|end| match end {
                    InstanceEnd::Refused { code } => Some(code.as_str()),
                    _ => None,
                })
                .collect();
            let after = refused_after_commit(ran);
            format!(
                "{} refused with {}{after}{waited}: nothing lost, a retry would succeed",
                refused.join(", "),
                codes.join(", ")
            )
        }
        ScheduleClass::Deadlock => {
            let victims = who(|e| matches!(e, InstanceEnd::Deadlock { .. }));
            format!(
                "the sessions waited for each other; {} rolled back as the deadlock's victim: \
                 nothing lost, a retry would succeed",
                victims.join(", ")
            )
        }
        ScheduleClass::Timeout => match &ran.stuck {
            Some(why) => format!("stopped by the explorer, {why}: no verdict on the method"),
            None => {
                let holder = ran.strangers.iter().flatten().next().cloned();
                let holder = holder.unwrap_or_else(|| "a lock outside the schedule".into());
                format!("a session waited for {holder} until its lock timeout")
            }
        },
        ScheduleClass::Stalled => match &ran.stalled {
            Some(why) => format!(
                "expected {n}, got {got}: {why}; the method's lock does not reach across nodes"
            ),
            None => format!("expected {n}, got {got}: the cluster stalled"),
        },
        ScheduleClass::AppError => {
            let failed = who(|e| matches!(e, InstanceEnd::ApplicationError { .. }));
            format!(
                "{} failed in the application, not in the database; the counter shows {got} \
                 (whether a failed request's increment was applied first is unknown)",
                failed.join(" and ")
            )
        }
        ScheduleClass::Unknown => match &ran.stuck {
            Some(why) => format!("stopped: {why}"),
            None => format!("expected {n}, got {got}: some increment's fate is unknown"),
        },
        ScheduleClass::Duplicate => {
            format!("expected {n}, got {got}: two sessions wrote the same count{waited}")
        }
        ScheduleClass::Extra => format!("expected at most {n}, got {got}: a refusal was applied"),
        ScheduleClass::Lost => {
            let (last, earlier) = commit_order(ran);
            let names = |list: &[usize]| {
                let names = list.iter().map(|i| format!("T{}", i + 1));
                names.collect::<Vec<_>>().join(" and ")
            };
            let read = first_reads(ran);
            let same = match read.first() {
                Some(Some(value)) if read.iter().all(|r| *r == Some(*value)) => {
                    format!("both read {value}; ")
                }
                _ => String::new(),
            };
            match last {
                Some(last) if !earlier.is_empty() => format!(
                    "expected {n}, got {got}: {same}T{}'s write overwrote {}'s (lost update)",
                    last + 1,
                    names(&earlier)
                ),
                _ => format!(
                    "expected {n}, got {got}: an acknowledged increment is missing (lost update)"
                ),
            }
        }
    }
}

/// The instance that committed last, and the others that committed before it.
fn commit_order(ran: &Ran) -> (Option<usize>, Vec<usize>) {
    let mut order: Vec<usize> = Vec::new();
    let commits = ran.steps.iter().filter(|step| {
        step.statement.sql.eq_ignore_ascii_case("COMMIT") && matches!(step.answer, Some(Ok(_)))
    });
    for step in commits {
        order.retain(|&i| i != step.instance);
        order.push(step.instance);
    }
    let last = order.pop();
    (last, order)
}

/// Each instance's value read before its first write (None: it read none, or no row).
fn first_reads(ran: &Ran) -> Vec<Option<i64>> {
    (0..ran.results.len())
        .map(|i| {
            let own = ran.steps.iter().filter(|step| step.instance == i);
            // Up to its first write: the value that write was computed from is the last one
            // read before it (a GET_LOCK's answer comes first, and is no count).
            let before_write = own.take_while(|step| step.statement.fetch != Fetch::Written);
            let reads = before_write.filter(|step| {
                step.statement.fetch == Fetch::Rows && step.statement.effect != Effect::Local
            });
            let answered = reads.filter_map(|step| step.answer.as_ref()?.as_ref().ok());
            answered.filter_map(|answer| answer.scalar()).last()
        })
        .collect()
}

/// " after T2 committed", when a refused instance's failing step went on after another's
/// commit.
fn refused_after_commit(ran: &Ran) -> String {
    let failed = ran
        .steps
        .iter()
        .rev()
        .find(|step| matches!(step.answer, Some(Err(_))));
    let Some(after) = failed.and_then(|step| step.resumed_after) else {
        return String::new();
    };
    let releasing = &ran.steps[after];
    match releasing.statement.sql.eq_ignore_ascii_case("COMMIT") {
        true => format!(" after T{} committed", releasing.instance + 1),
        false => String::new(),
    }
}
