//! The results model: what runners produce (a run record per hammer run, a matrix result per
//! engine) and renderers consume. Facts a run could not learn (a server that is not counter
//! does not say its isolation level) are `None`, never made up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::codes;
use super::isolation::{Isolation, IsolationScope};
pub use super::method::{MethodScript, NotApplicable};
use super::outcome::{Outcome, Verdict};
use super::schedule::ScheduleClass;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// One hammer run (alone, or one cell and trial of the matrix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The engine's name in results (`postgresql`); None when the server did not say.
    pub engine: Option<String>,
    pub server_version: Option<String>,
    /// The level the server run asked for.
    #[serde(with = "optional_sql_name")]
    pub isolation: Option<Isolation>,
    /// The level the database says its transactions run at, in its own words.
    pub effective_isolation: Option<String>,
    /// Which statements the level reached.
    pub isolation_scope: Option<IsolationScope>,
    pub method: u32,
    pub method_name: String,
    pub retry: Option<u32>,
    pub requests: u64,
    pub concurrency: u64,
    pub pool_size: Option<u32>,
    pub trial: u32,
    pub acknowledged: u64,
    pub rejected: u64,
    pub unknown: u64,
    /// The counter after the run; None when it could not be read.
    pub final_count: Option<i64>,
    /// Why a fact is missing (the counter could not be read after the run: the reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub verdict: Verdict,
    pub outcome: Outcome,
    /// Error tallies by the engine's code (`40001`) or by kind (`HTTP 503`, `timeout`).
    pub errors: BTreeMap<String, u64>,
    pub duration_ms: f64,
    pub throughput_rps: f64,
    pub latency: Latency,
    /// The counter before the run (0 after a reset) and its change F (None: not read after).
    pub before: i64,
    pub change: Option<i64>,
    /// Acknowledged requests that wrote a count another acknowledged request also wrote.
    pub duplicate_writes: u64,
    /// The share (0..1) of acknowledged increments whose database work overlapped another's;
    /// None when the server did not say when its database work ran.
    pub overlap: Option<f64>,
    /// The most increments inside their database work at once (None: not reported).
    pub peak_in_flight: Option<u64>,
    /// Requests that got an end; fewer than `requests` when the run was interrupted.
    pub completed: u64,
    pub interrupted: bool,
    /// Servers that shared the load (`--replicas`).
    pub replicas: u32,
    /// Pause between read and write on the server (`--think-ms`).
    pub think_ms: Option<u64>,
    /// The database settings that change outcomes (`fsync`, `synchronous_commit`, ...), as
    /// the server read them; empty when it did not say.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// The fault injected into a replicated cluster during the run, and what it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultRecord>,
    /// With `matrix --schedules`: the cell's verdict over every schedule of two sessions
    /// (both starting states), and the worst class of schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_worst: Option<ScheduleClass>,
}

/// What a fault injected in the middle of a run did (`--topology ha --fault ...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// `node-crash`, ...
    pub fault: String,
    /// `async` or `sync` (Patroni), `galera` (every node a primary).
    pub replication: String,
    /// The node hit (Patroni's primary; Galera's node 1).
    pub victim: String,
    /// The node Patroni named primary after the run (None on Galera).
    pub primary_after: Option<String>,
    pub timeline_before: Option<u64>,
    pub timeline_after: Option<u64>,
    /// Seconds from the fault until the cluster was writable again: Patroni named a primary
    /// that accepted connections out of recovery, or the surviving Galera nodes were synced
    /// members of a cluster without the node hit (None: not within the watch).
    pub outage_s: Option<f64>,
    /// Galera: the members of the cluster the surviving nodes formed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survivors: Option<u64>,
    /// Acknowledged increments absent from the count the cluster kept (the final primary's,
    /// or every surviving Galera node's): acknowledged minus the change, when positive; None
    /// when the count could not be read.
    pub lost: Option<u64>,
}

impl RunRecord {
    /// `40001=57;23505=3`, most frequent first.
    pub fn errors_text(&self) -> String {
        let mut errors: Vec<(&String, &u64)> = self.errors.iter().collect();
        errors.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        errors
            .iter()
            .map(|(code, n)| format!("{code}={n}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Of the rejected requests whose errors are `errors`, those that never reached the
/// database: (shed by the server, no database connection free, the client could not
/// connect). They say nothing about the method.
pub fn never_started(errors: &BTreeMap<String, u64>) -> (u64, u64, u64) {
    let count = |key: &str| errors.get(key).copied().unwrap_or(0);
    (
        count(codes::OVERLOADED),
        count(codes::DATABASE_UNAVAILABLE),
        count(codes::NOT_CONNECTED),
    )
}

/// How many requests never reached the database (see [`never_started`]).
pub fn not_started(errors: &BTreeMap<String, u64>) -> u64 {
    let (shed, no_connection, connect) = never_started(errors);
    shed + no_connection + connect
}

/// Facts about a matrix run as a whole, for reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixMeta {
    pub engine: String,
    pub server_version: String,
    pub levels: Vec<Isolation>,
    pub methods: Vec<u32>,
    pub requests: u64,
    pub concurrency: u64,
    pub pool_size: u32,
    pub trials: u32,
    /// The retry settings the cells ran with: `[0]`, or `[0, N]`.
    pub retries: Vec<u32>,
    pub replicas: u32,
    pub think_ms: u64,
    pub isolation_scope: IsolationScope,
    /// The database settings that change outcomes, as the first server read them.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    pub wall_ms: f64,
    /// Stopped by Ctrl-C (or SIGTERM): only the cells that ran are in the result.
    #[serde(default)]
    pub interrupted: bool,
    pub machine: String,
    /// The custom method's script, when the run had one (method 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_script: Option<MethodScript>,
}

/// Every record of one engine's matrix, in level, method, trial order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixResult {
    pub meta: MatrixMeta,
    pub runs: Vec<RunRecord>,
    /// Cells not run because the engine cannot express them.
    #[serde(default)]
    pub not_applicable: Vec<NotApplicable>,
    /// With `matrix --schedules`: every schedule of two sessions of each cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedules: Option<super::schedule_results::SchedulesResult>,
    /// Broken invariants of the harness itself (sessions left idle in transaction).
    #[serde(default)]
    pub problems: Vec<String>,
}

impl MatrixResult {
    /// Runs whose acknowledged increments vanished or were counted twice.
    pub fn invariant_violations(&self) -> impl Iterator<Item = &RunRecord> {
        self.runs.iter().filter(|r| r.outcome.violates_invariant())
    }

    /// The race's verdict of `method` at `level` (without retries) over its trials: the
    /// worst (see [`Verdict::weight`]); None when it did not run there.
    pub fn race_verdict(&self, level: Isolation, method: u32) -> Option<Verdict> {
        let runs = self
            .runs
            .iter()
            .filter(|r| r.isolation == Some(level) && r.method == method && r.retry == Some(0));
        runs.map(|r| r.verdict).max_by_key(|v| v.weight())
    }
}

/// Serde for an optional level written by its SQL name (`"repeatable read"`, or null).
mod optional_sql_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Isolation;

    pub fn serialize<S: Serializer>(level: &Option<Isolation>, s: S) -> Result<S::Ok, S::Error> {
        match level {
            Some(level) => s.serialize_str(level.sql_name()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Isolation>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|name| {
                Isolation::from_sql_name(&name).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown isolation level {name:?}"))
                })
            })
            .transpose()
    }
}
