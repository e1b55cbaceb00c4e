//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::engines::Backend;
use crate::engines::postgres::PgDatabase;
use crate::methods::retry::RetryPolicy;

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
}

impl AppState {
    /// A server's state: its own method context (so its own in-process lock, as a separate
    /// process would have), `retries` extra attempts on serialization failures, and `think`
    /// between read and write.
    pub fn new(db: PgDatabase, retries: u32, think: Duration) -> AppState {
        AppState::with_backend(Backend::postgres(db, think), retries)
    }

    /// A server's state over any engine's backend.
    pub fn with_backend(backend: Backend, retries: u32) -> AppState {
        AppState {
            backend: Arc::new(backend),
            retry: RetryPolicy::with_retries(retries),
            in_flight: Arc::new(Semaphore::new(DEFAULT_MAX_IN_FLIGHT)),
        }
    }

    /// Sets how many increments may be in progress at once (at least 1).
    pub fn with_max_in_flight(mut self, max: usize) -> AppState {
        self.in_flight = Arc::new(Semaphore::new(max.max(1)));
        self
    }
}
