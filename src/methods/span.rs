//! When an increment's database work ran: the evidence that requests really overlapped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::model::DbInterval;

/// When an increment's deciding database work began and ended, over all its attempts (see
/// [`super::increment`]). Waiting for a pooled connection does not count; waiting for a lock
/// does.
///
/// It also carries the increment's deadline, when it has one: the moment past which a
/// script's attempts are cancelled (one deadline over all attempts, as one span is).
#[derive(Debug, Default)]
pub struct Span {
    started_us: AtomicU64,
    finished_us: AtomicU64,
    deadline: Option<Instant>,
}

impl Span {
    /// A span whose increment must be over `within` from now (None: no deadline).
    pub fn with_deadline(within: Option<Duration>) -> Span {
        Span {
            deadline: within.map(|within| Instant::now() + within),
            ..Span::default()
        }
    }

    /// When the increment must be over, if it must.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The database work begins now, unless an earlier attempt began it.
    pub fn begin(&self) {
        let _ = self
            .started_us
            .compare_exchange(0, now_us(), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The database work (so far) ended now.
    pub fn end(&self) {
        self.finished_us.store(now_us(), Ordering::Relaxed);
    }

    /// The interval, once it began and ended.
    pub fn interval(&self) -> Option<DbInterval> {
        let started_us = self.started_us.load(Ordering::Relaxed);
        let finished_us = self.finished_us.load(Ordering::Relaxed);
        (started_us > 0 && finished_us >= started_us).then_some(DbInterval {
            started_us,
            finished_us,
        })
    }
}

/// Microseconds since the Unix epoch: the clock every server on the machine shares.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
