//! What every handler shares.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

use crate::engines::Backend;
use crate::methods::retry::RetryPolicy;
use crate::model::method::ALL;

/// Default bound of increments in progress; past it the server sheds load with an immediate
/// 503 instead of queueing without limit.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// What every handler shares: the database engine behind the API, and how increments run.
#[derive(Debug, Clone)]
pub struct AppState {
    pub backend: Arc<Backend>,
    pub retry: RetryPolicy,
    /// Permits for increments in progress (load shedding under overload).
    pub in_flight: Arc<Semaphore>,
    /// Increments in progress, by row: a client that wants a row's final count asks for it
    /// to reach 0 first (a request it gave up on may still commit).
    pub rows_in_flight: Arc<RowsInFlight>,
}

/// Increments in progress, counted by row id (the method rows; other ids are not
/// incremented).
#[derive(Debug, Default)]
pub struct RowsInFlight {
    counts: [AtomicU64; ALL.len() + 1],
}

/// One increment of a row in progress; counted until dropped.
pub struct InFlight {
    rows: Arc<RowsInFlight>,
    index: usize,
}

impl RowsInFlight {
    /// Counts an increment of row `id` until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>, id: i64) -> InFlight {
        let index = usize::try_from(id).unwrap_or(0).min(self.counts.len() - 1);
        self.counts[index].fetch_add(1, Ordering::SeqCst);
        InFlight {
            rows: self.clone(),
            index,
        }
    }

    /// The rows with increments in progress, and how many each.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let counts = self.counts.iter().enumerate();
        counts
            .map(|(id, count)| (id.to_string(), count.load(Ordering::SeqCst)))
            .filter(|(_, count)| *count > 0)
            .collect()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.rows.counts[self.index].fetch_sub(1, Ordering::SeqCst);
    }
}

impl AppState {
    /// A server's state over `backend` (its own method context, so its own in-process lock,
    /// as a separate process would have), with `retries` extra attempts on serialization
    /// failures.
    pub fn with_backend(backend: Backend, retries: u32) -> AppState {
        AppState {
            backend: Arc::new(backend),
            retry: RetryPolicy::with_retries(retries),
            in_flight: Arc::new(Semaphore::new(DEFAULT_MAX_IN_FLIGHT)),
            rows_in_flight: Arc::default(),
        }
    }

    /// Sets how many increments may be in progress at once (at least 1).
    pub fn with_max_in_flight(mut self, max: usize) -> AppState {
        self.in_flight = Arc::new(Semaphore::new(max.max(1)));
        self
    }
}
