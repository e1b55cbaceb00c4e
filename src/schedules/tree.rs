//! The tree of schedules, whatever runs them: depth first over choice lists, each schedule
//! re-run from the same starting state (replay, not snapshots).
//!
//! The first run takes the default at every choice (the instance that just ran goes on); each
//! choice point it passed adds its alternatives, as the choices up to there and one other
//! instance. Three bounds cut the tree, and each is counted in the result:
//! - symmetry: the instances run the same code, so instances that have not yet sent a
//!   statement another could notice are interchangeable: of those only the first is tried;
//! - `--max-switches`: an alternative that switches away from an instance that could have
//!   gone on counts one switch (CHESS's preemption bound);
//! - after a deadlock nothing is branched: which instance the database picks as the victim is
//!   not deterministic, so the tree below it is not either;
//! - after a multi-primary cluster stalled in a schedule, the cell stops: the stall decides its
//!   verdict, and each further one would cost a node's restart.
//!
//! What runs a schedule is an [`Instances`]: the product's own method code on sessions of its
//! own (`explore.rs`), or an application's requests whose statements arrive through the wire
//! proxy (`app/`). One explorer, two kinds of instance.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::replayed;
use super::run::Ran;
use crate::model::DbFailure;
use crate::model::schedule::ScheduleClass;
use crate::model::schedule_results::ScheduleRecord;

/// What runs the schedules of one cell.
pub(super) trait Instances {
    /// Puts the cell's starting state in place.
    async fn reset(&mut self) -> Result<(), DbFailure>;
    /// Runs one schedule: `prefix` gives the first choices, the default the rest.
    async fn once(&mut self, prefix: &[usize]) -> Result<Ran, DbFailure>;
    /// The counter's value after a schedule (None: it could not be read).
    async fn value(&mut self) -> Option<i64>;
    /// The schedule written down, its value at the start and the end known.
    fn record(&self, ran: &Ran, after: Option<i64>) -> ScheduleRecord;
}

/// How far a cell's tree is explored.
pub(super) struct Bounds<'a> {
    pub max_switches: Option<u32>,
    pub max_schedules: u64,
    /// Ctrl-C: the schedules not yet run are left out (the cell is then not proven).
    pub stop: &'a AtomicBool,
    /// Keep every schedule (`explain --all`), not only the shortest of each class.
    pub keep_all: bool,
}

/// Explores every schedule of `instances` within `bounds`.
pub(super) async fn explore<I: Instances>(
    instances: &mut I,
    bounds: &Bounds<'_>,
) -> Result<Explored, DbFailure> {
    // Each schedule to run: its first choices, and the shapes of the steps those choices ran
    // the first time (the replay must send them again).
    let mut pending: Vec<(Vec<usize>, Vec<String>)> = vec![(Vec::new(), Vec::new())];
    let mut explored = Explored {
        classes: BTreeMap::new(),
        schedules: Vec::new(),
        run: 0,
        cut_by_switches: 0,
        cut_by_cap: 0,
        cut_by_stall: 0,
        diverged: Vec::new(),
    };
    while let Some((prefix, expected)) = pending.pop() {
        if explored.run >= bounds.max_schedules || bounds.stop.load(Ordering::Relaxed) {
            explored.cut_by_cap = pending.len() as u64 + 1;
            break;
        }
        instances.reset().await?;
        let ran = instances.once(&prefix).await?;
        let after = instances.value().await;
        if let Some(differs) = replayed::differs(&expected, &ran) {
            // Neither classified nor branched: its choices are not the tree's.
            explored.run += 1;
            explored.diverged.push(differs);
            continue;
        }
        explored.cut_by_switches += branch(&ran, prefix.len(), bounds.max_switches, &mut pending);
        if let Some(diverged) = &ran.diverged {
            explored.diverged.push(diverged.clone());
        }
        explored.keep(instances.record(&ran, after), bounds.keep_all);
        if ran.stalled.is_some() {
            // The stall is the cell's verdict already; each further one costs a restart.
            explored.cut_by_stall = pending.len() as u64;
            break;
        }
    }
    Ok(explored)
}

/// What exploring a cell found: how many schedules of each class, and the schedules its
/// report needs.
pub(super) struct Explored {
    pub classes: BTreeMap<ScheduleClass, u64>,
    /// The shortest schedule of each class, or every one (see [`Bounds::keep_all`]).
    pub schedules: Vec<ScheduleRecord>,
    pub run: u64,
    pub cut_by_switches: u64,
    pub cut_by_cap: u64,
    pub cut_by_stall: u64,
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

/// Queues the alternatives of every choice `ran` made past `fixed` (the choices it was
/// told to make); returns how many the switch bound cut.
fn branch(
    ran: &Ran,
    fixed: usize,
    max_switches: Option<u32>,
    pending: &mut Vec<(Vec<usize>, Vec<String>)>,
) -> u64 {
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
                if max_switches.is_some_and(|max| switches + u32::from(switch) > max) {
                    cut += 1;
                    continue;
                }
                let mut next: Vec<usize> = ran.choices[..depth].iter().map(|c| c.chosen).collect();
                next.push(alt);
                pending.push((next, replayed::shapes(ran, point.at_step)));
            }
        }
        switches += u32::from(point.preempted.is_some_and(|p| p != point.chosen));
    }
    cut
}
