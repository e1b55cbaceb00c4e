//! `counter schedules`: proof instead of luck. For each cell (a method at a level, from an
//! existing or an absent row) two instances of the method (or three) run on connections of
//! their own, and every interleaving of their statements is run one statement at a time on the
//! real database; each schedule is classified, and the cell is "+" only when every schedule
//! was exact.
//!
//! The instances run the product's own method code (`methods::increment` over the engine's
//! `Session`, as the server does); the explorer only holds each statement back at the
//! session's gate (`gate.rs`) until it chooses it. One schedule's run is `run.rs`, the tree of
//! schedules `explore.rs`, a schedule's record `record.rs`.

pub mod app;
mod choose;
pub mod command;
pub mod explain;
mod explore;
mod gate;
mod instance;
mod look;
mod ran;
mod record;
mod replayed;
mod run;
mod stalled;
mod summary;
mod tree;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::engines::{
    Backend, DbError, Durability, EngineOption, Location, OpenOptions, WaitLimits,
};
use crate::methods::script::{Script, ScriptError};
use crate::model::results::{MethodScript, NotApplicable};
use crate::model::schedule::{StartState, cell_verdict};
use crate::model::schedule_results::{ScheduleCell, SchedulesMeta, SchedulesResult};
use crate::model::{DbFailure, Engine, Isolation, IsolationScope, MethodId, machine_description};
use explore::Cell;

/// What to explore.
#[derive(Debug, Clone)]
pub struct SchedulesConfig {
    pub engine: Engine,
    pub levels: Vec<Isolation>,
    pub methods: Vec<MethodId>,
    pub starts: Vec<StartState>,
    pub scope: IsolationScope,
    pub engine_options: Vec<EngineOption>,
    pub script: Option<Arc<Script>>,
    /// Instances of the method in each schedule (2 or 3).
    pub sessions: usize,
    /// The most switches away from an instance that could have gone on (None: no bound).
    pub max_switches: Option<u32>,
    /// The most schedules per cell.
    pub max_schedules: u64,
    /// How long a statement waits for a lock before the database gives up.
    pub lock_timeout: Duration,
    /// PostgreSQL's deadlock_timeout for the sessions (only on a throwaway cluster).
    pub deadlock_timeout: Option<Duration>,
    /// Keep every schedule of a cell (`explain --all`); otherwise only the shortest of each
    /// class is kept, and memory stays flat however many schedules run.
    pub keep_all: bool,
    /// Set by Ctrl-C: no further schedule starts; the cells so far are the result (the one
    /// cut short is not proven).
    pub stop: Arc<AtomicBool>,
}

/// Why an exploration stopped.
#[derive(Debug, thiserror::Error)]
pub enum SchedulesError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Failure(#[from] DbFailure),
    #[error(transparent)]
    Script(#[from] ScriptError),
}

/// PostgreSQL's deadlock_timeout on a throwaway cluster: a deadlock costs a schedule this long
/// instead of the default second; still many times the few milliseconds between the two waits
/// of a deadlock here, so the first waiter stays the one that detects it.
pub const THROWAWAY_DEADLOCK_TIMEOUT: Duration = Duration::from_millis(200);

/// Why the explorer does not run `method`, when it does not.
pub fn not_explored(method: MethodId) -> Option<&'static str> {
    match method {
        MethodId::InProcessLock => Some(
            "the lock is the server's own mutex, taken before any statement: two requests in one \
             server never interleave in the database (two servers are method 4's schedules)",
        ),
        MethodId::Coalesced => Some(
            "the server gathers concurrent increments into one batch before any statement: two \
             batches run method 3's statements (see method 3)",
        ),
        _ => None,
    }
}

impl SchedulesConfig {
    fn open_options(&self, level: Isolation) -> OpenOptions {
        let mut open = OpenOptions::new(level, self.sessions as u32 + 1);
        open.scope = self.scope;
        // Nothing here races: commits need not wait for the disk.
        open.durability = Durability::NoFsync;
        open.engine_options = self.engine_options.clone();
        // One slot: the two instances of method 10 meet on it (with 16 they rarely would).
        open.shards = 1;
        open.script = self.script.clone();
        open.waits = Some(WaitLimits {
            lock_timeout: self.lock_timeout,
            deadlock_timeout: self.deadlock_timeout,
        });
        open
    }
}

/// Explores every cell on the database at `location`; `on_cell` is told of each cell.
pub async fn run(
    config: &SchedulesConfig,
    location: &Location,
    mut on_cell: impl FnMut(&ScheduleCell),
) -> Result<SchedulesResult, SchedulesError> {
    let started = Instant::now();
    let mut cells = Vec::new();
    let mut not_applicable = Vec::new();
    let (mut server_version, mut settings) = (String::new(), BTreeMap::new());
    for &level in &config.levels {
        if config.stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(reason) = crate::engines::not_applicable(config.engine, level, None) {
            not_applicable.push(NotApplicable {
                isolation: level,
                method: None,
                reason: reason.to_string(),
            });
            continue;
        }
        let backend = Backend::open(location, &config.open_options(level)).await?;
        if let Some(refused) = backend.script_refused() {
            let refused = refused.clone();
            backend.close().await;
            return Err(refused.into());
        }
        let about = backend.describe();
        (server_version, settings) = (about.server_version, about.settings);
        let explored = explore_level(config, &backend, level, &mut not_applicable, &mut on_cell);
        let explored = explored.await;
        backend.close().await;
        cells.extend(explored?);
    }
    let schedules_run = cells.iter().map(ScheduleCell::schedules_run).sum();
    Ok(SchedulesResult {
        meta: SchedulesMeta {
            engine: config.engine.name().to_string(),
            server_version,
            levels: config.levels.clone(),
            methods: config.methods.iter().map(|m| m.number()).collect(),
            starts: config.starts.clone(),
            sessions: config.sessions as u32,
            max_switches: config.max_switches,
            max_schedules: config.max_schedules,
            isolation_scope: config.scope,
            symmetry: true,
            lock_timeout_ms: config.lock_timeout.as_millis() as u64,
            deadlock_timeout_ms: config.deadlock_timeout.map(|d| d.as_millis() as u64),
            settings,
            machine: machine_description(),
            method_script: config.script.as_ref().map(|script| MethodScript {
                file: script.file.clone(),
                text: script.text.clone(),
            }),
            schedules_run,
            wall_ms: started.elapsed().as_secs_f64() * 1000.0,
            interrupted: config.stop.load(Ordering::Relaxed),
        },
        cells,
        not_applicable,
    })
}

async fn explore_level(
    config: &SchedulesConfig,
    backend: &Backend,
    level: Isolation,
    not_applicable: &mut Vec<NotApplicable>,
    on_cell: &mut impl FnMut(&ScheduleCell),
) -> Result<Vec<ScheduleCell>, SchedulesError> {
    let mut cells = Vec::new();
    for &method in &config.methods {
        let reason = backend
            .not_applicable_to_schedules(method)
            .or_else(|| not_explored(method).map(str::to_string));
        if let Some(reason) = reason {
            not_applicable.push(NotApplicable {
                isolation: level,
                method: Some(method.number()),
                reason,
            });
            continue;
        }
        for &start in &config.starts {
            if config.stop.load(Ordering::Relaxed) {
                return Ok(cells);
            }
            let started = Instant::now();
            let cell = Cell {
                stop: &config.stop,
                keep_all: config.keep_all,
                backend,
                method,
                start,
                sessions: config.sessions,
                max_switches: config.max_switches,
                max_schedules: config.max_schedules,
                lock_timeout: config.lock_timeout,
            };
            let explored = backend.with_database(cell).await?;
            let classes = explored.classes;
            // A schedule whose replay did not follow its choices is left out: no proof then.
            let cut = explored.cut_by_switches
                + explored.cut_by_cap
                + explored.cut_by_stall
                + explored.diverged.len() as u64;
            let Some((verdict, worst)) = cell_verdict(&classes, cut) else {
                continue;
            };
            let cell = ScheduleCell {
                race: None,
                isolation: level,
                method: method.number(),
                method_name: method.name().to_string(),
                start,
                sessions: config.sessions as u32,
                verdict,
                worst,
                classes,
                cut_by_switches: explored.cut_by_switches,
                cut_by_cap: explored.cut_by_cap,
                cut_by_stall: explored.cut_by_stall,
                diverged: explored.diverged,
                schedules: explored.schedules,
                elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
            };
            on_cell(&cell);
            cells.push(cell);
        }
    }
    Ok(cells)
}
