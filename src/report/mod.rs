//! Results as data: one record type for a hammer run (alone, or as one cell and trial of the
//! matrix), and its CSV, JSON and table forms.

pub mod csv;
pub mod html;
pub mod matrix;
pub mod svg;
pub mod table;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hammer::stats::Latency;
use crate::hammer::{HammerRun, Outcome};

/// One run: the CSV columns of DESIGN.md, plus a few that only JSON carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub engine: String,
    pub server_version: String,
    pub isolation: String,
    pub effective_isolation: String,
    pub method: u32,
    pub method_name: String,
    pub retry: u32,
    pub requests: u64,
    pub concurrency: u64,
    pub pool_size: u32,
    pub trial: u32,
    pub acknowledged: u64,
    pub rejected: u64,
    pub unknown: u64,
    pub final_count: i64,
    pub verdict: String,
    pub outcome: Outcome,
    pub errors: BTreeMap<String, u64>,
    pub duration_ms: f64,
    pub throughput_rps: f64,
    pub latency: Latency,
    /// The counter before the run (0 after a reset) and its change F.
    pub before: i64,
    pub change: i64,
    /// Acknowledged requests that wrote a count another acknowledged request also wrote.
    pub duplicate_writes: u64,
    /// Requests that got an end; fewer than `requests` when the run was interrupted.
    pub completed: u64,
    pub interrupted: bool,
    /// Servers that shared the load (`--replicas`).
    pub replicas: u32,
    /// Pause between read and write on the server (`--think-ms`).
    pub think_ms: u64,
}

/// What the record cannot learn from the run itself: which trial of a matrix cell it was.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// 1-based.
    pub trial: u32,
}

impl Default for RunContext {
    fn default() -> Self {
        RunContext { trial: 1 }
    }
}

impl RunRecord {
    pub fn from_run(run: &HammerRun, context: &RunContext) -> RunRecord {
        let info = run.server.as_ref();
        let text = |f: fn(&crate::hammer::ServerInfo) -> &String| {
            info.map(|i| f(i).clone()).unwrap_or_default()
        };
        RunRecord {
            engine: info
                .map(|i| i.engine.clone())
                .unwrap_or_else(|| "unknown".to_string()),
            server_version: text(|i| &i.server_version),
            isolation: text(|i| &i.isolation),
            effective_isolation: text(|i| &i.effective_isolation),
            method: run.method.number(),
            method_name: run.method.slug().to_string(),
            retry: info.map(|i| i.retry).unwrap_or(0),
            requests: run.requests,
            concurrency: run.concurrency,
            pool_size: info.map(|i| i.pool_size).unwrap_or(0),
            trial: context.trial,
            acknowledged: run.acknowledged,
            rejected: run.rejected,
            unknown: run.unknown,
            final_count: run.after,
            verdict: run.outcome.verdict().to_string(),
            outcome: run.outcome,
            errors: run.errors.clone(),
            duration_ms: round2(run.duration.as_secs_f64() * 1000.0),
            throughput_rps: round2(run.throughput_rps()),
            latency: run.latency,
            before: run.before,
            change: run.change(),
            duplicate_writes: run.duplicate_writes,
            completed: run.completed,
            interrupted: run.interrupted,
            replicas: u32::try_from(run.replicas).unwrap_or(u32::MAX),
            think_ms: info.map(|i| i.think_ms).unwrap_or(0),
        }
    }

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

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
