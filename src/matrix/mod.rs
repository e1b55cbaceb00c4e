//! The whole study: for each isolation level a fresh server (new pool, new connections) on an
//! ephemeral loopback port, and for each method a reset and a hammer run, K times.

pub mod command;
mod error;
mod faults;
mod schedules;
mod servers;

pub use error::MatrixError;
pub use faults::{FaultTarget, GaleraCluster};

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engines::{self, Backend, Durability, EngineOption, Location, OpenOptions};
use crate::hammer::{self, Control, HammerConfig, Target};
use crate::methods::script::Script;
use crate::model::results::{MatrixMeta, MatrixResult, MethodScript, NotApplicable, RunRecord};
use crate::model::{Engine, Fault, Isolation, IsolationScope, MethodId, machine_description};
use servers::Servers;

/// What to run.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    pub levels: Vec<Isolation>,
    pub methods: Vec<MethodId>,
    pub requests: u64,
    pub concurrency: u64,
    pub pool_size: u32,
    pub trials: u32,
    /// Servers per level on the same database.
    pub replicas: u32,
    /// With N > 0, every cell runs twice: without retry, then with `--retry N`.
    pub retry: u32,
    pub think_ms: u64,
    pub scope: IsolationScope,
    /// How the throwaway databases commit (`--no-fsync`).
    pub durability: Durability,
    pub engine_options: Vec<EngineOption>,
    /// Slots of a sharded counter (method 10).
    pub shards: u32,
    /// `--statement-timeout` (None: no limit).
    pub statement_timeout: Option<Duration>,
    /// The custom method's script (`--method-file`), method 12.
    pub script: Option<Arc<Script>>,
    /// The fault injected in the middle of every run (`--topology ha`).
    pub fault: Option<Fault>,
    /// Whether an engine that refuses the script makes method 12 n/a there (several engines)
    /// instead of stopping the run (one engine: the script is wrong).
    pub script_may_be_refused: bool,
    pub engine: Engine,
}

impl MatrixConfig {
    /// The retry settings to run: without retry always, and with it when asked.
    pub fn retries(&self) -> Vec<u32> {
        if self.retry > 0 {
            vec![0, self.retry]
        } else {
            vec![0]
        }
    }

    /// How each level's servers open the database.
    fn open_options(&self, level: Isolation) -> OpenOptions {
        OpenOptions {
            isolation: level,
            scope: self.scope,
            pool_size: self.pool_size,
            think: Duration::from_millis(self.think_ms),
            durability: self.durability,
            engine_options: self.engine_options.clone(),
            shards: self.shards,
            script: self.script.clone(),
            waits: None,
            statement_timeout: self.statement_timeout,
        }
    }

    /// The levels this engine has.
    fn runnable_levels(&self) -> Vec<Isolation> {
        let levels = self.levels.iter().copied();
        levels
            .filter(|&level| engines::not_applicable(self.engine, level, None).is_none())
            .collect()
    }

    /// How many hammer runs the matrix makes at most (a PostgreSQL-protocol engine may turn
    /// out, once connected, not to run some methods).
    pub fn cells(&self) -> u64 {
        let runnable = self.runnable_levels().into_iter().map(|level| {
            let methods = self.methods.iter();
            methods
                .filter(|&&m| engines::not_applicable(self.engine, level, Some(m)).is_none())
                .count()
        });
        let per_retry: usize = runnable.sum();
        (per_retry * self.retries().len()) as u64 * u64::from(self.trials)
    }

    /// The levels this engine does not have, with the reasons.
    fn levels_not_applicable(&self) -> Vec<NotApplicable> {
        let levels = self.levels.iter();
        levels
            .filter_map(|&level| {
                let reason = engines::not_applicable(self.engine, level, None)?;
                Some(NotApplicable {
                    isolation: level,
                    method: None,
                    reason: reason.to_string(),
                })
            })
            .collect()
    }

    /// The methods `backend` can run at `level`; the others go to `gaps` with the reason.
    fn methods_for(
        &self,
        backend: &Backend,
        level: Isolation,
        gaps: &mut Vec<NotApplicable>,
    ) -> Vec<MethodId> {
        let mut runnable = Vec::new();
        for &method in &self.methods {
            match backend.not_applicable(method) {
                Some(reason) => gaps.push(NotApplicable {
                    isolation: level,
                    method: Some(method.number()),
                    reason,
                }),
                None => runnable.push(method),
            }
        }
        runnable
    }
}

/// Runs the matrix against the database at `location`. `on_cell` is called after each run
/// (for progress bars).
pub async fn run(
    config: &MatrixConfig,
    location: &Location,
    mut cluster: Option<&mut FaultTarget<'_>>,
    mut on_cell: impl FnMut(&RunRecord),
    stop: &Arc<Control>,
) -> Result<MatrixResult, MatrixError> {
    let started = Instant::now();
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    let mut server_version = String::new();
    let mut settings = Default::default();
    let mut not_applicable = config.levels_not_applicable();
    'levels: for retry in config.retries() {
        for level in config.runnable_levels() {
            if stop.stopped() {
                break 'levels;
            }
            // A restart per level, as the original did by editing settings: new pools, new
            // servers (each replica with its own pool and its own in-process lock).
            let servers = Servers::start(config, location, level, retry).await?;
            let about = servers.first().describe();
            (server_version, settings) = (about.server_version, about.settings);
            // What the database cannot run is known once connected (PostgreSQL-protocol
            // engines are probed); every level and retry setting sees the same database.
            let mut gaps = Vec::new();
            let methods = config.methods_for(servers.first(), level, &mut gaps);
            if retry == 0 {
                not_applicable.extend(gaps);
            }
            let cluster = cluster.as_deref_mut();
            let result = match servers.targets() {
                Ok(targets) => {
                    let cells = (&mut runs, &mut on_cell);
                    run_level(config, &methods, &targets, cluster, cells, stop).await
                }
                Err(err) => Err(err),
            };
            let idle = servers
                .first()
                .settle_idle_in_transaction(Duration::from_secs(2));
            match idle.await {
                Ok(0) => {}
                Ok(idle) => problems.push(format!(
                    "{level}: {idle} session(s) left idle in transaction after the runs"
                )),
                Err(err) => problems.push(format!(
                    "{level}: the check for sessions left idle in transaction could not run: {err}"
                )),
            }
            servers.stop().await;
            result?;
        }
    }
    Ok(MatrixResult {
        meta: MatrixMeta {
            engine: config.engine.name().into(),
            server_version,
            levels: config.levels.clone(),
            methods: config.methods.iter().map(|m| m.number()).collect(),
            requests: config.requests,
            concurrency: config.concurrency,
            pool_size: config.pool_size,
            trials: config.trials,
            retries: config.retries(),
            replicas: config.replicas,
            think_ms: config.think_ms,
            isolation_scope: config.scope,
            settings,
            wall_ms: started.elapsed().as_secs_f64() * 1000.0,
            interrupted: stop.stopped(),
            machine: machine_description(),
            method_script: config.script.as_ref().map(|script| MethodScript {
                file: script.file.clone(),
                text: script.text.clone(),
            }),
        },
        runs,
        not_applicable,
        problems,
        schedules: None,
    })
}

async fn run_level(
    config: &MatrixConfig,
    methods: &[MethodId],
    targets: &[Target],
    mut cluster: Option<&mut FaultTarget<'_>>,
    (runs, on_cell): (&mut Vec<RunRecord>, &mut impl FnMut(&RunRecord)),
    stop: &Arc<Control>,
) -> Result<(), MatrixError> {
    for &method in methods {
        for trial in 1..=config.trials {
            if stop.stopped() {
                return Ok(());
            }
            let mut hammer = HammerConfig::new(targets.to_vec(), method, config.requests);
            hammer.concurrency = config.concurrency;
            // The original started from an empty table: the creation race is part of a cell.
            hammer.reset = true;
            // At least as long as the servers may take to answer (they say it in their info).
            hammer.timeout = Duration::from_secs(30);
            hammer.follow_server_deadline = true;
            let record = match (config.fault, cluster.as_deref_mut()) {
                (Some(fault), Some(cluster)) => {
                    faults::run_through(fault, cluster, &hammer, trial).await?
                }
                _ => hammer::run(&hammer, Arc::clone(stop)).await?.record(trial),
            };
            on_cell(&record);
            runs.push(record);
        }
    }
    Ok(())
}
