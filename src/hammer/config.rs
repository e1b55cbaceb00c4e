//! What a hammer run is asked to do, and the switch to stop it early.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::error::HammerError;
use super::target::Target;
use crate::model::MethodId;

/// Default and upper bound of in-flight requests when `--concurrency` is not given.
pub const MAX_DEFAULT_CONCURRENCY: u64 = 1024;

/// The HTTP verb of the increments: POST for counter, GET for servers that only accept GET
/// (like the original).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpVerb {
    Post,
    Get,
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
    /// Waits as long as the server says it may take to answer (`answer_within_ms` in its
    /// info), if that is longer than `timeout`: a request given up sooner would count a
    /// refusal the server was about to send as unknown. The command line and the matrix turn
    /// it on (the command line only when `--timeout` was not given).
    pub follow_server_deadline: bool,
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
            follow_server_deadline: false,
            path: None,
        }
    }

    /// The numbers are the command line's to check (at least 1 request, in flight and
    /// second); what a library caller can get wrong beyond them is checked here.
    pub(super) fn validate(&self) -> Result<(), HammerError> {
        if self.targets.is_empty() {
            return Err(HammerError::Usage(
                "at least one -d server is needed".into(),
            ));
        }
        if self.path.as_ref().is_some_and(|p| !p.starts_with('/')) {
            return Err(HammerError::Usage("--path must start with /".into()));
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

    /// Whether [`Control::stop`] was called.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// One more request got its end.
    pub(super) fn count_completed(&self) {
        self.completed.fetch_add(1, Ordering::Relaxed);
    }
}
