//! `--retry N`: run the whole transaction again when the database refused it for a reason that
//! a new attempt can overcome, with jittered exponential backoff, within a deadline.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use crate::model::{DbInterval, IncrementError};

/// First backoff step and the cap of one pause.
const BASE_BACKOFF: Duration = Duration::from_millis(1);
const MAX_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Extra attempts after the first (0: no retry).
    pub retries: u32,
    /// No new attempt starts after this much time since the first began.
    pub deadline: Duration,
}

impl RetryPolicy {
    pub fn with_retries(retries: u32) -> RetryPolicy {
        RetryPolicy {
            retries,
            ..RetryPolicy::default()
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            deadline: Duration::from_secs(10),
        }
    }
}

/// An increment's result and how many attempts it took.
#[derive(Debug)]
pub struct Attempted {
    /// The count written, when the method knows it.
    pub result: Result<Option<i64>, IncrementError>,
    pub attempts: u32,
    /// When the database work ran, from the first attempt's first statement to the last
    /// attempt's end (None when nothing reached the database).
    pub interval: Option<DbInterval>,
}

/// Runs `attempt` until it succeeds, fails for a reason a retry cannot fix, runs out of
/// retries, or would start past the deadline.
pub async fn with_retry<F, Fut>(policy: RetryPolicy, mut attempt: F) -> Attempted
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<i64>, IncrementError>>,
{
    let started = Instant::now();
    let jitter = RandomState::new();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = attempt().await;
        let retry = match &result {
            Err(err) => attempts <= policy.retries && err.is_retryable(),
            Ok(_) => false,
        };
        if !retry {
            return Attempted {
                result,
                attempts,
                interval: None,
            };
        }
        let pause = backoff(attempts, jitter.hash_one((attempts, started.elapsed())));
        if started.elapsed() + pause > policy.deadline {
            return Attempted {
                result,
                attempts,
                interval: None,
            };
        }
        tokio::time::sleep(pause).await;
    }
}

/// "Full jitter": a uniform pause in [0, min(cap, base * 2^attempt)).
fn backoff(attempt: u32, random: u64) -> Duration {
    let ceiling = BASE_BACKOFF
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(MAX_BACKOFF);
    let micros = u64::try_from(ceiling.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_micros(random % micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_capped() {
        assert!(backoff(1, u64::MAX) < Duration::from_millis(2));
        assert!(backoff(3, u64::MAX) < Duration::from_millis(8));
        for attempt in [10, 20, 40, u32::MAX] {
            assert!(backoff(attempt, u64::MAX) < MAX_BACKOFF);
        }
    }
}
