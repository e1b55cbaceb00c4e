//! The proxy's hooks during an application's schedules: which connection is which instance's,
//! and each of its steps held at that instance's gate, as the explorer holds its own sessions'
//! statements (the same `Gate`, the same events).
//!
//! Instances are started one at a time: the request started last is the one whose connection
//! is not yet known, so the first statement on a connection no instance holds is its. A
//! statement on a connection no request of the schedule holds, or on one whose request has
//! ended, is reported (that application cannot be explored statement by statement), never
//! guessed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::super::gate::{Event, Gate};
use super::effect::{splits_in_autocommit, statement_of};
use crate::engines::postgres::errors::TABLE;
use crate::engines::postgres::proxy::{Hold, Hooks, SPLIT_BEGIN, Step, StepAnswer};
use crate::model::statement::{Answer, Effect, Fetch, Observer, Statement};
use crate::model::{DbFailure, ErrorClass};

/// What the proxy tells the application explorer.
#[derive(Default)]
pub(super) struct AppHooks {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pids: HashMap<u64, i32>,
    /// Each connection's last `ReadyForQuery` status.
    statuses: HashMap<u64, u8>,
    schedule: Option<Schedule>,
    /// When the last statement came through.
    last_step: Option<Instant>,
    /// During a race: what the proxy heard (no gates then).
    race: Option<RaceHeard>,
    /// A client asked for TLS, was refused, and left.
    refused_tls: bool,
}

/// What the proxy hears during a race: the database's refusals, and how many connections
/// were busy at once (a statement sent and not yet answered, or a transaction open).
#[derive(Default)]
struct RaceHeard {
    refusals: u64,
    open: std::collections::HashSet<u64>,
    most_open: u64,
}

/// One schedule's instances as the proxy sees them.
struct Schedule {
    gates: Vec<Arc<Gate>>,
    /// The instance whose request was sent and whose connection is not known yet, with what
    /// to tell once it is.
    starting: Option<(usize, oneshot::Sender<()>)>,
    owners: HashMap<u64, usize>,
    /// Per connection, the statement sent and not yet answered.
    sent: HashMap<u64, Statement>,
    /// Per instance, the last database error its connection answered.
    errors: Vec<Option<DbFailure>>,
    finished: Vec<bool>,
    problems: Vec<String>,
    /// A write sent outside a transaction block (autocommit).
    autocommit_write: Option<String>,
}

/// What a schedule left for the explorer: each instance's last database error, and what
/// could not be explored.
pub(super) struct Heard {
    pub errors: Vec<Option<DbFailure>>,
    pub problems: Vec<String>,
    /// A write the application sent in autocommit, if it sent one.
    pub autocommit_write: Option<String>,
    /// Per instance: whether a connection was seen to be its.
    pub connected: Vec<bool>,
    /// Whether a client insisted on TLS since the exploration began.
    pub refused_tls: bool,
}

impl AppHooks {
    /// Waits until no statement has come through for `quiet` (at most `within`): an
    /// application that accepts requests may still be setting up its connections (counter
    /// serve binds its port first), and a schedule must not take those statements for a
    /// request's.
    pub async fn settled(&self, quiet: Duration, within: Duration) {
        let started = Instant::now();
        while started.elapsed() < within {
            let last = self.state.lock().ok().and_then(|state| state.last_step);
            if last.is_none_or(|last| last.elapsed() >= quiet) {
                return;
            }
            tokio::time::sleep(quiet / 5).await;
        }
    }

    /// Whether a client insisted on TLS (and left).
    pub fn refused_tls_seen(&self) -> bool {
        self.state.lock().is_ok_and(|state| state.refused_tls)
    }

    /// A race begins: its refusals and overlap are counted from now.
    pub fn race_begin(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.race = Some(RaceHeard::default());
        }
    }

    /// The race is over: the refusals heard, and the most transactions open at once.
    pub fn race_end(&self) -> (u64, u64) {
        let race = self
            .state
            .lock()
            .ok()
            .and_then(|mut state| state.race.take());
        race.map_or((0, 0), |race| (race.refusals, race.most_open))
    }

    /// A schedule begins with these instances' gates.
    pub fn begin(&self, gates: Vec<Arc<Gate>>) {
        let n = gates.len();
        if let Ok(mut state) = self.state.lock() {
            state.schedule = Some(Schedule {
                gates,
                starting: None,
                owners: HashMap::new(),
                sent: HashMap::new(),
                errors: vec![None; n],
                finished: vec![false; n],
                problems: Vec::new(),
                autocommit_write: None,
            });
        }
    }

    /// Instance `i`'s request is about to be sent; `known` is told when its connection is.
    pub fn starting(&self, i: usize, known: oneshot::Sender<()>) {
        if let Ok(mut state) = self.state.lock()
            && let Some(schedule) = state.schedule.as_mut()
        {
            schedule.starting = Some((i, known));
        }
    }

    /// Instance `i`'s request was answered.
    pub fn finished(&self, i: usize) {
        if let Ok(mut state) = self.state.lock()
            && let Some(schedule) = state.schedule.as_mut()
        {
            schedule.finished[i] = true;
            if schedule.starting.as_ref().is_some_and(|(s, _)| *s == i) {
                schedule.starting = None;
            }
        }
    }

    /// The schedule is over.
    pub fn end(&self) -> Heard {
        let (schedule, refused_tls) = match self.state.lock() {
            Ok(mut state) => (state.schedule.take(), state.refused_tls),
            Err(_) => (None, false),
        };
        match schedule {
            Some(schedule) => Heard {
                connected: (0..schedule.gates.len())
                    .map(|i| schedule.owners.values().any(|&owner| owner == i))
                    .collect(),
                errors: schedule.errors,
                problems: schedule.problems,
                autocommit_write: schedule.autocommit_write,
                refused_tls,
            },
            None => Heard {
                errors: Vec::new(),
                problems: Vec::new(),
                autocommit_write: None,
                connected: Vec::new(),
                refused_tls,
            },
        }
    }
}

impl Hooks for AppHooks {
    fn wants_rows(&self) -> bool {
        true
    }

    fn wants_values(&self) -> bool {
        true
    }

    fn may_split(&self) -> bool {
        true
    }

    /// During a schedule, on a request's connection (or the one about to be), a write in
    /// autocommit runs as a transaction of its own, as the explorer's own sessions send it:
    /// its commit is a step another request can come before.
    fn splits(&self, conn: u64, step: &Step) -> bool {
        let Ok(state) = self.state.lock() else {
            return false;
        };
        let ours = state.schedule.as_ref().is_some_and(|schedule| {
            schedule.owners.contains_key(&conn) || schedule.starting.is_some()
        });
        ours && splits_in_autocommit(&step.sql)
    }

    fn refused_tls(&self, _conn: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.refused_tls = true;
        }
    }

    fn backend(&self, conn: u64, pid: i32, _secret: &[u8]) {
        if let Ok(mut state) = self.state.lock() {
            state.pids.insert(conn, pid);
        }
    }

    fn before(&self, conn: u64, step: &Step) -> Option<Hold> {
        let mut state = self.state.lock().ok()?;
        state.last_step = Some(Instant::now());
        let pid = state.pids.get(&conn).copied();
        let idle = state
            .statuses
            .get(&conn)
            .is_none_or(|&status| status == b'I');
        if let Some(race) = state.race.as_mut() {
            race.open.insert(conn);
            race.most_open = race.most_open.max(race.open.len() as u64);
        }
        if step.by_proxy && step.sql == SPLIT_BEGIN {
            // The write that follows is in the proxy's transaction, not in autocommit (the
            // BEGIN's own ReadyForQuery may not have come back yet).
            state.statuses.insert(conn, b'T');
        }
        let schedule = state.schedule.as_mut()?;
        let owner = match schedule.owners.get(&conn) {
            Some(&owner) => owner,
            None => match schedule.starting.take() {
                Some((i, known)) => {
                    schedule.owners.insert(conn, i);
                    let id = i64::from(pid.unwrap_or(0));
                    schedule.gates[i].send(Event::Identified { id });
                    let _ = known.send(());
                    i
                }
                None => {
                    schedule.problems.push(format!(
                        "a statement on a connection no request of the schedule holds ({}): \
                         the application's requests use more than one connection each, or \
                         it works in the background",
                        step.shown()
                    ));
                    return None;
                }
            },
        };
        if schedule.finished[owner] {
            schedule.problems.push(format!(
                "T{}'s connection sent a statement after its request was answered ({}): \
                 connections are shared between requests",
                owner + 1,
                step.shown()
            ));
            return None;
        }
        let statement = statement_of(&step.shown());
        if idle && statement.effect == Effect::Writes {
            schedule.autocommit_write.get_or_insert(step.shown());
        }
        schedule.sent.insert(conn, statement.clone());
        let gate = Arc::clone(&schedule.gates[owner]);
        Some(Box::pin(async move { gate.before(&statement).await }))
    }

    fn answered(&self, conn: u64, _step: &Step, answer: &StepAnswer) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if let (Some(race), Some((code, message))) = (state.race.as_mut(), &answer.error)
            && matches!(
                TABLE.heard(code, message).class,
                ErrorClass::Rejected { .. }
            )
        {
            race.refusals += 1;
        }
        let Some(schedule) = state.schedule.as_mut() else {
            return;
        };
        let (Some(&owner), Some(statement)) =
            (schedule.owners.get(&conn), schedule.sent.remove(&conn))
        else {
            return;
        };
        let result = match (&answer.error, answer.skipped) {
            (Some((code, message)), _) => {
                let failure = TABLE.heard(code, message);
                schedule.errors[owner] = Some(failure.clone());
                Err(failure)
            }
            (None, true) => Err(DbFailure::ours(
                ErrorClass::Internal,
                "skipped: an earlier statement of the pipeline failed",
            )),
            (None, false) => Ok(Answer {
                rows: match statement.fetch {
                    Fetch::Rows => answer.rows,
                    _ => answer.written(),
                },
                first_row: answer.first_row.clone(),
            }),
        };
        schedule.gates[owner].after(&statement, &result);
    }

    fn ready(&self, conn: u64, status: u8) {
        if let Ok(mut state) = self.state.lock() {
            state.statuses.insert(conn, status);
            if let Some(race) = state.race.as_mut() {
                match status {
                    b'T' | b'E' => race.open.insert(conn),
                    _ => race.open.remove(&conn),
                };
                race.most_open = race.most_open.max(race.open.len() as u64);
            }
        }
    }

    fn closed(&self, conn: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.pids.remove(&conn);
            state.statuses.remove(&conn);
        }
    }
}
