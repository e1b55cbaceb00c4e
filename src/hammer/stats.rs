//! Streaming statistics of a run: counters, a latency histogram and error tallies. Memory is
//! bounded whatever the request count (no per-request vectors).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::model::results::Latency;
use crate::model::{Contention, DbInterval};

/// Largest latency recorded exactly (longer ones are clamped): one hour, in microseconds.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// How many distinct written counts the lost-update detector tracks (2 MiB of bits).
const MAX_TRACKED_WRITES: u64 = 1 << 24;
/// How many database intervals the contention figures are computed from (16 MiB); a longer
/// run is judged by its first ones.
const MAX_TRACKED_INTERVALS: usize = 1 << 20;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestEnd {
    /// 2xx: applied; the count the server says it wrote and when its database work ran,
    /// when it says.
    Acknowledged {
        written: Option<i64>,
        interval: Option<DbInterval>,
    },
    /// A definite "not applied" (4xx, 409): keyed by the engine's code, or by HTTP status;
    /// `status`: the HTTP status, when an answer came.
    Rejected { reason: String, status: Option<u16> },
    /// Fate unknown (timeout, reset, 5xx).
    Unknown { reason: String, status: Option<u16> },
}

/// Tallies of everything but the written counts.
#[derive(Debug, Clone)]
pub struct Tally {
    pub acknowledged: u64,
    pub rejected: u64,
    pub unknown: u64,
    pub errors: BTreeMap<String, u64>,
    /// Answers that were not 2xx, by HTTP status (what tells a foreign server's 404 or 405).
    pub statuses: BTreeMap<u16, u64>,
    pub latency: Histogram<u64>,
    /// The database intervals of acknowledged increments (the first ones, up to a bound).
    pub intervals: Vec<DbInterval>,
    /// Acknowledged increments whose answer did not say when their database work ran.
    pub without_interval: u64,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            acknowledged: 0,
            rejected: 0,
            unknown: 0,
            errors: BTreeMap::new(),
            statuses: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("constant histogram bounds are valid"),
            intervals: Vec::new(),
            without_interval: 0,
        }
    }

    pub fn record(&mut self, end: &RequestEnd, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency
            .saturating_record(micros.clamp(1, MAX_LATENCY_US));
        match end {
            RequestEnd::Acknowledged { interval, .. } => {
                self.acknowledged += 1;
                match interval {
                    Some(_) if self.intervals.len() >= MAX_TRACKED_INTERVALS => {}
                    Some(interval) => self.intervals.push(*interval),
                    None => self.without_interval += 1,
                }
            }
            RequestEnd::Rejected { reason, status } => {
                self.rejected += 1;
                *self.errors.entry(reason.clone()).or_default() += 1;
                self.count_status(*status);
            }
            RequestEnd::Unknown { reason, status } => {
                self.unknown += 1;
                *self.errors.entry(reason.clone()).or_default() += 1;
                self.count_status(*status);
            }
        }
    }

    fn count_status(&mut self, status: Option<u16>) {
        if let Some(status) = status {
            *self.statuses.entry(status).or_default() += 1;
        }
    }

    /// Whether every request that ended got an answer with HTTP `status`.
    pub fn all_answered(&self, status: u16) -> bool {
        let completed = self.completed();
        completed > 0 && self.statuses.get(&status) == Some(&completed)
    }

    pub fn completed(&self) -> u64 {
        self.acknowledged + self.rejected + self.unknown
    }

    /// How much the acknowledged increments overlapped in the database; None when the server
    /// did not say (an older counter, or another server altogether).
    pub fn contention(&self) -> Option<Contention> {
        if self.without_interval > 0 {
            return None;
        }
        Contention::of(&self.intervals)
    }

    pub fn latency_summary(&self) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        if self.latency.is_empty() {
            return Latency::default();
        }
        Latency {
            p50_ms: ms(self.latency.value_at_quantile(0.50)),
            p90_ms: ms(self.latency.value_at_quantile(0.90)),
            p99_ms: ms(self.latency.value_at_quantile(0.99)),
            p999_ms: ms(self.latency.value_at_quantile(0.999)),
            max_ms: ms(self.latency.max()),
        }
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

/// Sees two acknowledged requests that wrote the same count: a lost update, observed directly.
/// One bit per possible count after the run's starting value, up to a fixed bound.
#[derive(Debug)]
pub struct WrittenCounts {
    base: i64,
    bits: Vec<AtomicU64>,
    duplicates: AtomicU64,
}

impl WrittenCounts {
    /// Tracks counts `base + 1 ..= base + expected` (at most [`MAX_TRACKED_WRITES`] of them).
    pub fn new(base: i64, expected: u64) -> WrittenCounts {
        let tracked = expected.min(MAX_TRACKED_WRITES);
        let words = tracked.div_ceil(64) as usize;
        WrittenCounts {
            base,
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
            duplicates: AtomicU64::new(0),
        }
    }

    pub fn record(&self, written: i64) {
        let Some(index) = written
            .checked_sub(self.base)
            .and_then(|d| d.checked_sub(1))
            .and_then(|d| u64::try_from(d).ok())
        else {
            return;
        };
        let Some(word) = self.bits.get((index / 64) as usize) else {
            return;
        };
        let mask = 1u64 << (index % 64);
        if word.fetch_or(mask, Ordering::Relaxed) & mask != 0 {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_counts_see_duplicates_only() {
        let seen = WrittenCounts::new(10, 100);
        for count in [11, 12, 13, 12, 110, 111, 5] {
            seen.record(count);
        }
        assert_eq!(seen.duplicates(), 1);
    }

    #[test]
    fn tally_counts_each_class_and_reason() {
        let mut tally = Tally::new();
        let ms = Duration::from_millis(3);
        tally.record(
            &RequestEnd::Acknowledged {
                written: Some(1),
                interval: None,
            },
            ms,
        );
        tally.record(
            &RequestEnd::Rejected {
                reason: "40001".into(),
                status: Some(409),
            },
            ms,
        );
        tally.record(
            &RequestEnd::Rejected {
                reason: "40001".into(),
                status: Some(409),
            },
            ms,
        );
        tally.record(
            &RequestEnd::Unknown {
                reason: "timeout".into(),
                status: None,
            },
            ms,
        );
        assert_eq!(
            (tally.acknowledged, tally.rejected, tally.unknown),
            (1, 2, 1)
        );
        assert_eq!(tally.errors["40001"], 2);
        assert!((tally.latency_summary().p50_ms - 3.0).abs() < 0.01);
    }
}
