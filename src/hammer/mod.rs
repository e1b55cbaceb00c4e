//! The load client: N increments with at most C in flight, released together, then a verdict.
//!
//! Each worker first makes one request of its own (which opens its keep-alive connection), then
//! waits at a start barrier; the clock starts when every worker is past it. So the increments
//! really overlap, as they did when the original script fired its 100 requests at once.

pub mod command;
pub mod outcome;
pub mod stats;
pub mod target;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Client;
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

/// The HTTP client of a run: keep-alive connections for every worker, no proxy, no TLS.
pub fn build_client(concurrency: u64, timeout: Duration) -> Result<Client, HammerError> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_max_idle_per_host(usize::try_from(concurrency).unwrap_or(usize::MAX))
        .tcp_nodelay(true)
        .build()
        .map_err(|err| HammerError::Usage(format!("could not build the HTTP client: {err}")))
}

/// Runs one hammer: checks the server, optionally resets the row, fires the increments and
/// classifies the outcome.
pub async fn run(config: &HammerConfig, control: Arc<Control>) -> Result<HammerRun, HammerError> {
    config.validate()?;
    let client = build_client(config.concurrency, config.timeout)?;
    let target = &config.targets[0];
    let id = config.method.row_id();
    let mut server = None;
    for (index, replica) in config.targets.iter().enumerate() {
        let info = replica.info(&client).await?;
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
        target.reset(&client, id).await?;
    }
    let before = target.read_count(&client, id).await?;
    let (tally, duplicate_writes, duration) = fire(config, &client, before, control.clone()).await;
    let after = target.read_count(&client, id).await?;
    if tally.completed() > 0 && tally.errors.get("HTTP 404") == Some(&tally.completed()) {
        return Err(HammerError::Connect(format!(
            "every increment at {} answered 404: the server does not know method {}",
            target.increment_url(config.method.number()),
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
        errors: tally.errors.clone(),
        duplicate_writes,
        latency: tally.latency_summary(),
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
async fn fire(
    config: &HammerConfig,
    client: &Client,
    before: i64,
    control: Arc<Control>,
) -> (Tally, u64, Duration) {
    let workers = config.concurrency.min(config.requests);
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        tally: Mutex::new(Tally::new()),
        written: WrittenCounts::new(before, config.requests),
        control,
    });
    let barrier = Arc::new(tokio::sync::Barrier::new(workers as usize + 1));
    let urls: Vec<(Arc<str>, Arc<str>)> = config
        .targets
        .iter()
        .map(|t| {
            let increment = t.increment_url(config.method.number()).into();
            let warm = t.count_url(config.method.row_id()).into();
            (increment, warm)
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let (client, shared, barrier) = (client.clone(), shared.clone(), barrier.clone());
        // Workers are dealt to the servers round-robin; each sticks to its server.
        let (url, warm_url) = urls[(worker % urls.len() as u64) as usize].clone();
        let (verb, requests) = (config.verb, config.requests);
        tasks.spawn(async move {
            // Opens this worker's connection before the start line; its answer does not matter.
            if let Ok(response) = client.get(&*warm_url).send().await {
                let _ = response.bytes().await;
            }
            barrier.wait().await;
            while !shared.control.stopped()
                && shared.next.fetch_add(1, Ordering::Relaxed) < requests
            {
                let started = Instant::now();
                let end = send_one(&client, &url, verb).await;
                let latency = started.elapsed();
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

/// Sends one increment and says how it ended.
async fn send_one(client: &Client, url: &str, verb: HttpVerb) -> RequestEnd {
    let request = match verb {
        HttpVerb::Post => client.post(url),
        HttpVerb::Get => client.get(url),
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => return transport_end(&err),
    };
    let status = response.status();
    let body = response.bytes().await;
    let answer = body
        .as_ref()
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Answer>(bytes).ok());
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
        RequestEnd::Unknown {
            reason: format!("HTTP {}", status.as_u16()),
        }
    }
}

/// A request that got no answer. A connection that was never established never carried the
/// request, so that is a definite "not applied"; anything later (timeout, reset) leaves its
/// fate unknown.
fn transport_end(err: &reqwest::Error) -> RequestEnd {
    if err.is_connect() {
        RequestEnd::Rejected {
            reason: "connect".into(),
        }
    } else if err.is_timeout() {
        RequestEnd::Unknown {
            reason: "timeout".into(),
        }
    } else {
        RequestEnd::Unknown {
            reason: "connection".into(),
        }
    }
}
