//! The load client: N increments with at most C in flight, released together, then a verdict.
//!
//! Each worker first makes one request of its own (which opens its keep-alive connection), then
//! waits at a start barrier; the clock starts when every worker is past it. So the increments
//! really overlap, as they did when the original script fired its 100 requests at once.

pub mod command;
pub mod http;
pub mod outcome;
pub mod stats;
pub mod target;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method;
use serde::Deserialize;

use crate::cli::HttpVerb;
use crate::methods::MethodId;
pub use outcome::Outcome;
use stats::{Latency, RequestEnd, Tally, WrittenCounts};
pub use target::{ServerInfo, Target};

/// Default and upper bound of in-flight requests when `--concurrency` is not given.
pub const MAX_DEFAULT_CONCURRENCY: u64 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum HammerError {
    /// A bad flag or value.
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached or did not behave like a counter server.
    #[error("{0}")]
    Connect(String),
}

#[derive(Debug, Clone)]
pub struct HammerConfig {
    /// One server, or several replicas on the same database (workers are spread over them
    /// round-robin). The first one is asked for the count before and after.
    pub targets: Vec<Target>,
    pub method: MethodId,
    pub requests: u64,
    pub concurrency: u64,
    pub reset: bool,
    pub verb: HttpVerb,
    pub timeout: Duration,
    /// Send the load to this path instead of the method's increment path (benchmarks of the
    /// client against a cheap endpoint); the counter is still read before and after.
    pub path: Option<String>,
}

impl HammerConfig {
    pub fn new(targets: Vec<Target>, method: MethodId, requests: u64) -> HammerConfig {
        HammerConfig {
            targets,
            method,
            requests,
            concurrency: requests.clamp(1, MAX_DEFAULT_CONCURRENCY),
            reset: false,
            verb: HttpVerb::Post,
            timeout: Duration::from_secs(10),
            path: None,
        }
    }

    fn validate(&self) -> Result<(), HammerError> {
        if self.targets.is_empty() {
            return Err(HammerError::Usage(
                "at least one -d server is needed".into(),
            ));
        }
        if self.requests == 0 {
            return Err(HammerError::Usage("--requests must be at least 1".into()));
        }
        if self.concurrency == 0 {
            return Err(HammerError::Usage(
                "--concurrency must be at least 1".into(),
            ));
        }
        if self.path.as_ref().is_some_and(|p| !p.starts_with('/')) {
            return Err(HammerError::Usage("--path must start with /".into()));
        }
        if self.timeout.is_zero() {
            return Err(HammerError::Usage("--timeout must be positive".into()));
        }
        Ok(())
    }
}

/// Shared with the caller while a run goes on: a progress counter and a stop switch.
#[derive(Debug, Default)]
pub struct Control {
    completed: AtomicU64,
    stop: AtomicBool,
}

impl Control {
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    /// Sends no further requests; those in flight finish (bounded by the request timeout).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

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
    pub after: i64,
    pub outcome: Outcome,
    /// Error tallies by SQLSTATE (`40001`) or by kind (`HTTP 503`, `timeout`, `connect`).
    pub errors: BTreeMap<String, u64>,
    /// Pairs of acknowledged requests that wrote the same count: lost updates seen directly.
    pub duplicate_writes: u64,
    pub latency: Latency,
    pub duration: Duration,
    pub interrupted: bool,
    /// The server's own account of its settings, when it is a counter server.
    pub server: Option<ServerInfo>,
}

impl HammerRun {
    /// The counter's change F.
    pub fn change(&self) -> i64 {
        self.after - self.before
    }

    pub fn throughput_rps(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.completed as f64 / secs
        } else {
            0.0
        }
    }
}

/// Runs one hammer: checks the server, optionally resets the row, fires the increments and
/// classifies the outcome.
pub async fn run(config: &HammerConfig, control: Arc<Control>) -> Result<HammerRun, HammerError> {
    config.validate()?;
    let target = &config.targets[0];
    let id = config.method.row_id();
    let mut server = None;
    for (index, replica) in config.targets.iter().enumerate() {
        let info = replica.info().await?;
        if let Some(gap) = info.as_ref().and_then(|i| {
            i.unavailable
                .iter()
                .find(|u| u.number == config.method.number())
        }) {
            return Err(HammerError::Usage(format!(
                "the server at {} cannot run method {}: {}",
                replica.base_url, config.method, gap.reason
            )));
        }
        if let Some(info) = &info
            && !info
                .methods
                .iter()
                .any(|m| m.number == config.method.number())
        {
            return Err(HammerError::Usage(format!(
                "the server at {} has no method {}",
                replica.base_url, config.method
            )));
        }
        if index == 0 {
            server = info;
        }
    }
    if config.reset {
        target.reset(id).await?;
    }
    let before = target.read_count(id).await?;
    let (tally, duplicate_writes, duration) = fire(config, before, control.clone()).await;
    let after = target.read_count(id).await?;
    if tally.completed() > 0 && tally.errors.get("HTTP 404") == Some(&tally.completed()) {
        return Err(HammerError::Connect(format!(
            "every increment at {}{} answered 404: the server does not know method {}",
            target.base_url,
            target.increment_path(config.method.number()),
            config.method
        )));
    }
    let completed = tally.completed();
    let interrupted = completed < config.requests;
    let change = after - before;
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
        outcome: Outcome::classify(completed, tally.acknowledged, tally.unknown, change),
        latency: tally.latency_summary(),
        errors: tally.errors,
        duplicate_writes,
        duration,
        interrupted,
        server,
    })
}

struct Shared {
    next: AtomicU64,
    tally: Mutex<Tally>,
    written: WrittenCounts,
    control: Arc<Control>,
}

/// The load itself: returns the tallies, the duplicate writes seen, and the wall time.
async fn fire(config: &HammerConfig, before: i64, control: Arc<Control>) -> (Tally, u64, Duration) {
    let workers = config.concurrency.min(config.requests);
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        tally: Mutex::new(Tally::new()),
        written: WrittenCounts::new(before, config.requests),
        control,
    });
    let barrier = Arc::new(tokio::sync::Barrier::new(workers as usize + 1));
    let path: Arc<str> = match &config.path {
        Some(path) => path.as_str().into(),
        None => config.targets[0]
            .increment_path(config.method.number())
            .into(),
    };
    let method = match config.verb {
        HttpVerb::Post => Method::POST,
        HttpVerb::Get => Method::GET,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let (shared, barrier, path, method) = (
            shared.clone(),
            barrier.clone(),
            path.clone(),
            method.clone(),
        );
        // Workers are dealt to the servers round-robin; each sticks to its server.
        let endpoint = config.targets[(worker % config.targets.len() as u64) as usize]
            .endpoint
            .clone();
        let (timeout, requests) = (config.timeout, config.requests);
        tasks.spawn(async move {
            // Each worker opens its own connection before the start line, so that the
            // increments overlap instead of queueing behind connection set-up.
            let mut connection = http::Connection::open(&endpoint, timeout).await.ok();
            barrier.wait().await;
            while !shared.control.stopped()
                && shared.next.fetch_add(1, Ordering::Relaxed) < requests
            {
                let started = Instant::now();
                let answer =
                    http::send_on(&mut connection, &endpoint, method.clone(), &path, timeout).await;
                let latency = started.elapsed();
                let end = classify(answer);
                if let RequestEnd::Acknowledged {
                    written: Some(count),
                } = end
                {
                    shared.written.record(count);
                }
                if let Ok(mut tally) = shared.tally.lock() {
                    tally.record(&end, latency);
                }
                shared.control.completed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    barrier.wait().await;
    let started = Instant::now();
    while tasks.join_next().await.is_some() {}
    let duration = started.elapsed();
    let tally = shared.tally.lock().map(|t| t.clone()).unwrap_or_default();
    (tally, shared.written.duplicates(), duration)
}

#[derive(Deserialize)]
struct Answer {
    count: Option<i64>,
    sqlstate: Option<String>,
    /// The error code, for rejections without a SQLSTATE (e.g. `cas_exhausted`).
    error: Option<String>,
}

/// How an increment ended, from its answer. A request that never reached the server is a
/// definite "not applied"; one that got no complete answer has an unknown fate.
fn classify(
    answer: Result<(axum::http::StatusCode, hyper::body::Bytes), http::HttpError>,
) -> RequestEnd {
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(err) if err.never_sent() => {
            return RequestEnd::Rejected {
                reason: "connect".into(),
            };
        }
        Err(http::HttpError::Timeout) => {
            return RequestEnd::Unknown {
                reason: "timeout".into(),
            };
        }
        Err(_) => {
            return RequestEnd::Unknown {
                reason: "connection".into(),
            };
        }
    };
    let answer = serde_json::from_slice::<Answer>(&body).ok();
    if status.is_success() {
        return RequestEnd::Acknowledged {
            written: answer.and_then(|a| a.count),
        };
    }
    let error = answer.as_ref().and_then(|a| a.error.as_deref());
    // A shed request was never started: as definite a "not applied" as a 4xx.
    if status.is_client_error() || error == Some("overloaded") {
        let reason = answer
            .and_then(|a| a.sqlstate.or(a.error))
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        RequestEnd::Rejected { reason }
    } else {
        // An ambiguous commit names its SQLSTATE (CockroachDB's 40003); other failures
        // only have their status.
        let reason = answer
            .and_then(|a| a.sqlstate)
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        RequestEnd::Unknown { reason }
    }
}
