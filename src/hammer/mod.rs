//! The load client: N increments with at most C in flight, released together, then a verdict.
//!
//! Each worker first makes one request of its own (which opens its keep-alive connection), then
//! waits at a start barrier; the clock starts when every worker is past it. So the increments
//! really overlap, as they did when the original script fired its 100 requests at once.

pub mod command;
mod config;
mod error;
mod fire;
pub mod http;
pub mod stats;
pub mod target;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::api::Info;
use crate::model::results::{Latency, RunRecord};
use crate::model::{Contention, Ends, MethodId, Outcome, Verdict};
pub use config::{Control, HammerConfig, HttpVerb, MAX_DEFAULT_CONCURRENCY};
pub use error::HammerError;
pub use target::Target;

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct HammerRun {
    pub method: MethodId,
    /// How many servers shared the load.
    pub replicas: usize,
    /// Requests planned.
    pub requests: u64,
    /// Requests that got an end (equal to `requests` unless interrupted).
    pub completed: u64,
    pub concurrency: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    pub unknown: u64,
    pub before: i64,
    /// The counter after the run; None when it could not be read (`unreadable` says why).
    pub after: Option<i64>,
    pub unreadable: Option<String>,
    pub outcome: Outcome,
    /// How much the acknowledged increments overlapped in the database (None: the server did
    /// not say).
    pub contention: Option<Contention>,
    /// "+", "-", or "?" for an exact run that did not race.
    pub verdict: Verdict,
    /// Error tallies by SQLSTATE (`40001`) or by kind (`HTTP 503`, `timeout`, `connect`).
    pub errors: BTreeMap<String, u64>,
    /// Increments of the row a server still had in progress when the counter was read (after
    /// the patience ran out): their fate is not in the count.
    pub still_in_flight: u64,
    /// Pairs of acknowledged requests that wrote the same count: lost updates seen directly.
    pub duplicate_writes: u64,
    pub latency: Latency,
    pub duration: Duration,
    pub interrupted: bool,
    /// The server's own account of its settings, when it is a counter server.
    pub server: Option<Info>,
}

impl HammerRun {
    /// The counter's change F, when the counter could be read after the run.
    pub fn change(&self) -> Option<i64> {
        self.after.map(|after| after - self.before)
    }

    pub fn throughput_rps(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.completed as f64 / secs
        } else {
            0.0
        }
    }

    /// The run as a results record, as trial `trial` of its cell. What the server did not
    /// say about itself stays unknown.
    pub fn record(&self, trial: u32) -> RunRecord {
        let info = self.server.as_ref();
        RunRecord {
            engine: info.map(|i| i.engine.clone()),
            server_version: info.map(|i| i.server_version.clone()),
            isolation: info.map(|i| i.isolation),
            effective_isolation: info.map(|i| i.effective_isolation.clone()),
            method: self.method.number(),
            method_name: self.method.slug().to_string(),
            retry: info.map(|i| i.retry),
            requests: self.requests,
            concurrency: self.concurrency,
            pool_size: info.map(|i| i.pool_size),
            trial,
            acknowledged: self.acknowledged,
            rejected: self.rejected,
            unknown: self.unknown,
            final_count: self.after,
            note: self.unreadable.clone(),
            verdict: self.verdict,
            outcome: self.outcome,
            errors: self.errors.clone(),
            duration_ms: round2(self.duration.as_secs_f64() * 1000.0),
            throughput_rps: round2(self.throughput_rps()),
            latency: self.latency,
            before: self.before,
            change: self.change(),
            duplicate_writes: self.duplicate_writes,
            overlap: self.contention.map(|c| round4(c.overlap)),
            peak_in_flight: self.contention.map(|c| c.peak_in_flight),
            completed: self.completed,
            interrupted: self.interrupted,
            replicas: u32::try_from(self.replicas).unwrap_or(u32::MAX),
            think_ms: info.map(|i| i.think_ms),
            isolation_scope: info.and_then(|i| i.isolation_scope),
            settings: info.map(|i| i.settings.clone()).unwrap_or_default(),
            fault: None,
            schedule_verdict: None,
            schedule_worst: None,
        }
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// Runs one hammer: checks the servers, optionally resets the row, fires the increments,
/// refuses a run that only shows the server does not fit, and classifies the outcome.
pub async fn run(config: &HammerConfig, control: Arc<Control>) -> Result<HammerRun, HammerError> {
    config.validate()?;
    let target = &config.targets[0];
    let id = config.method.row_id();
    let server = check_servers(config).await?;
    let followed = following_the_server(config, server.as_ref());
    let config = &followed;
    // A late commit of an earlier run (a request its client gave up on) must land neither
    // after the reset nor after the final read: wait for the row's increments to finish.
    let mut still_in_flight = 0;
    if config.reset {
        still_in_flight += wait_until_settled(config, id).await?;
        target.reset(id).await?;
    }
    // A counter server is asked for the row; one with only the original's surface, for the
    // list of every row.
    let per_row = server.is_some();
    let before = target.read_count(id, per_row).await?;
    let fire::Fired {
        mut tally,
        duplicate_writes,
        duration,
    } = fire::fire(config, before, control.clone()).await;
    // The run happened: what it measured is kept even if the counter can no longer be read
    // (the server went away), and the outcome then says so.
    let after = match wait_until_settled(config, id).await {
        Ok(running) => {
            still_in_flight += running;
            target.read_count(id, per_row).await
        }
        Err(err) => Err(err),
    };
    refuse_a_misfit(config, &tally).await?;
    if still_in_flight > 0 {
        // Shown with the errors; the count itself is the run's `still_in_flight`.
        tally
            .errors
            .insert(STILL_IN_FLIGHT.to_string(), still_in_flight);
    }
    let completed = tally.completed();
    let (after, unreadable) = match after {
        Ok(after) => (Some(after), None),
        Err(err) => (None, Some(err.to_string())),
    };
    let outcome = match after {
        Some(after) => Outcome::classify(Ends {
            requests: completed,
            acknowledged: tally.acknowledged,
            rejected: tally.rejected,
            not_started: crate::model::results::not_started(&tally.errors),
            unknown: tally.unknown,
            change: after - before,
        }),
        None => Outcome::Unknown,
    };
    let contention = tally.contention();
    Ok(HammerRun {
        method: config.method,
        replicas: config.targets.len(),
        requests: config.requests,
        completed,
        concurrency: config.concurrency,
        acknowledged: tally.acknowledged,
        rejected: tally.rejected,
        unknown: tally.unknown,
        before,
        after,
        unreadable,
        outcome,
        contention,
        verdict: Verdict::judge(outcome, contention),
        latency: tally.latency_summary(),
        errors: tally.errors,
        still_in_flight,
        duplicate_writes,
        duration,
        interrupted: completed < config.requests,
        server,
    })
}

/// How much longer than the server's own bound the client waits: the answer's way back.
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// `config`, waiting for each request as long as the server may take (see
/// [`HammerConfig::follow_server_deadline`]).
fn following_the_server(config: &HammerConfig, server: Option<&Info>) -> HammerConfig {
    let mut config = config.clone();
    let within = server.and_then(|info| info.answer_within_ms);
    if let (true, Some(ms)) = (config.follow_server_deadline, within) {
        config.timeout = config
            .timeout
            .max(Duration::from_millis(ms) + ANSWER_MARGIN);
    }
    config
}

/// How the errors table shows increments still in progress when the counter was read.
pub const STILL_IN_FLIGHT: &str = "still in flight when read";

/// Asks every server what it is; refuses a method one of them cannot run or does not have.
/// The first server's answer (None: not a counter server).
async fn check_servers(config: &HammerConfig) -> Result<Option<crate::api::Info>, HammerError> {
    let mut first = None;
    for (index, replica) in config.targets.iter().enumerate() {
        let info = replica.info().await?;
        if let Some(info) = &info {
            let number = config.method.number();
            if let Some(gap) = info.unavailable.iter().find(|u| u.number == number) {
                return Err(HammerError::Usage(format!(
                    "the server at {} cannot run method {}: {}",
                    replica.base_url, config.method, gap.reason
                )));
            }
            if !info.methods.iter().any(|m| m.number == number) {
                return Err(HammerError::Usage(format!(
                    "the server at {} has no method {}",
                    replica.base_url, config.method
                )));
            }
        }
        if index == 0 {
            first = info;
        }
    }
    Ok(first)
}

/// A run in which every increment answered 404 or 405 says nothing about the method: the
/// server does not know it, or wants another verb (the original project's wants GET). Nothing
/// changed (both are refused before anything runs).
async fn refuse_a_misfit(config: &HammerConfig, tally: &stats::Tally) -> Result<(), HammerError> {
    let target = &config.targets[0];
    let path = crate::api::increment_path(config.method.number());
    if tally.all_answered(404) {
        return Err(HammerError::Connect(format!(
            "every increment at {}{path} answered 404: the server does not know method {}",
            target.base_url, config.method
        )));
    }
    if tally.all_answered(405) && config.verb == HttpVerb::Post {
        let allowed = target.allowed(axum::http::Method::POST, &path).await?;
        let hint = match allowed {
            Some(verbs) if verbs.to_ascii_uppercase().contains("GET") => {
                format!(
                    "it allows {verbs}: use --http-method get (as the original project's server wants)"
                )
            }
            Some(verbs) => format!("it allows {verbs}"),
            None => "the server does not say which verbs it allows".to_string(),
        };
        return Err(HammerError::Usage(format!(
            "every POST to {}{path} answered 405 Method Not Allowed; {hint}",
            target.base_url
        )));
    }
    Ok(())
}

/// How long the hammer waits for a server's increments of a row to finish before it reads
/// the row anyway (and says how many were still running).
const SETTLE_PATIENCE: Duration = Duration::from_secs(30);

/// Waits until no server has an increment of row `id` in progress (servers that do not say
/// are not waited for); returns how many were still in progress when patience ran out.
async fn wait_until_settled(config: &HammerConfig, id: i64) -> Result<u64, HammerError> {
    let mut still_running = 0;
    for target in &config.targets {
        still_running += target.wait_until_settled(id, SETTLE_PATIENCE).await?;
    }
    Ok(still_running)
}
