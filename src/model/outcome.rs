//! What a run of N increments did to the counter: its outcome class, and the symbol the
//! +/- table shows for it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The classification of a run from how its requests ended and the counter's change F.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// F == N: every request applied exactly once (the original's "+").
    Exact,
    /// F == acknowledged < N, and the database refused some requests (a definite "not
    /// applied"); nothing acknowledged was lost.
    Rejected,
    /// F == acknowledged < N, and nothing was refused: requests failed with server errors or
    /// timeouts (fate unknown when they ended), and none of them turned out to be applied.
    Failed,
    /// F < acknowledged: acknowledged increments vanished (the worst case).
    Lost,
    /// F > acknowledged + unknown: something was counted twice.
    Extra,
    /// acknowledged < F <= acknowledged + unknown: some requests of unknown fate were applied.
    Ambiguous,
    /// Nothing acknowledged was lost or doubled, but some requests never reached the
    /// database (the server shed them, no database connection was free, the client could not
    /// connect): the run did not test what it was asked to, and says nothing of the method.
    Incomplete,
    /// The counter could not be read after the run (the server went away): F is unknown.
    Unknown,
}

/// How a run's requests ended, and how far the counter moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ends {
    /// Requests that got an end.
    pub requests: u64,
    /// 2xx: applied.
    pub acknowledged: u64,
    /// A definite "not applied" (the database refused, or the request was never started).
    pub rejected: u64,
    /// Of those, the requests that never reached the database (shed, unsent, unconnected).
    pub not_started: u64,
    /// Fate unknown when they ended (timeouts, resets, 5xx).
    pub unknown: u64,
    /// The counter's change F.
    pub change: i64,
}

impl Outcome {
    pub fn classify(ends: Ends) -> Outcome {
        let acknowledged = i128::from(ends.acknowledged);
        let change = i128::from(ends.change);
        // Lost and extra first: a run where F == N but more than the acknowledged and unknown
        // requests were applied had a "rejected" answer that lied, which is not exact.
        if change < acknowledged {
            Outcome::Lost
        } else if change > acknowledged + i128::from(ends.unknown) {
            Outcome::Extra
        } else if ends.not_started > 0 {
            Outcome::Incomplete
        } else if change == i128::from(ends.requests) {
            Outcome::Exact
        } else if change == acknowledged && ends.rejected > 0 {
            Outcome::Rejected
        } else if change == acknowledged {
            Outcome::Failed
        } else {
            Outcome::Ambiguous
        }
    }

    /// Whether the run broke the promise that nothing acknowledged is lost or doubled.
    pub fn violates_invariant(self) -> bool {
        matches!(self, Outcome::Lost | Outcome::Extra)
    }

    /// Whether the run says nothing about the method: its requests failed without a
    /// definite answer, or the counter could not be read.
    pub fn is_no_verdict(self) -> bool {
        matches!(
            self,
            Outcome::Failed | Outcome::Unknown | Outcome::Incomplete
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Exact => "exact",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
            Outcome::Lost => "lost",
            Outcome::Extra => "extra",
            Outcome::Ambiguous => "ambiguous",
            Outcome::Incomplete => "incomplete",
            Outcome::Unknown => "unknown",
        }
    }
}

/// A run's symbol in the +/- table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// "+": the requests raced and the counter moved by exactly their number.
    #[serde(rename = "+")]
    Exact,
    /// "-": it did not (refused, lost, doubled or ambiguous: the outcome says which).
    #[serde(rename = "-")]
    NotExact,
    /// "?": exact, but the requests hardly overlapped in the database: nothing was tested.
    #[serde(rename = "?")]
    Inconclusive,
    /// "!": no verdict: requests failed without an answer, were shed or never sent, or the
    /// counter could not be read (the outcome says which).
    #[serde(rename = "!")]
    NoVerdict,
    /// "~": not proven: no schedule explored broke the counter, but the exploration was cut
    /// short (`--max-schedules`, the switch bound) before it had seen them all.
    #[serde(rename = "~")]
    NotProven,
}

/// How much the acknowledged increments' database work overlapped in a run: the evidence
/// that a race happened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Contention {
    /// The share (0..1) of acknowledged increments whose database interval overlapped another
    /// increment's interval.
    pub overlap: f64,
    /// The most increments inside their database interval at once.
    pub peak_in_flight: u64,
}

impl Contention {
    /// Below this share of overlapping increments a run tested too little to earn a "+".
    pub const MIN_OVERLAP: f64 = 0.10;

    /// Whether the run raced: at least 10 % of its increments overlapped another one, and at
    /// some moment at least two were in the database at once. Ten percent is far below what
    /// any racing run shows here (durable commits: 0.9 and more) and far above what a run
    /// whose requests happened to follow one another shows (0 to a few percent).
    pub fn raced(self) -> bool {
        self.overlap >= Self::MIN_OVERLAP && self.peak_in_flight >= 2
    }
}

/// When one increment's database work began (its `BEGIN`, or the first statement of an
/// autocommit method) and when it committed, in microseconds since the Unix epoch: one clock
/// for every server on the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInterval {
    pub started_us: u64,
    pub finished_us: u64,
}

impl Contention {
    /// The contention of a run's increments of one row, from their database intervals (None
    /// for no intervals). Two intervals overlap when each began before the other ended.
    pub fn of(intervals: &[DbInterval]) -> Option<Contention> {
        if intervals.is_empty() {
            return None;
        }
        let mut sorted: Vec<DbInterval> = intervals.to_vec();
        sorted.sort_by_key(|i| (i.started_us, i.finished_us));
        // An interval overlaps an earlier one when it began before the latest end so far, and
        // a later one when the next to begin began before it ended.
        let mut overlapping = 0u64;
        let mut latest_end = 0u64;
        for (index, interval) in sorted.iter().enumerate() {
            let with_earlier = index > 0 && interval.started_us < latest_end;
            let with_later = sorted
                .get(index + 1)
                .is_some_and(|next| next.started_us < interval.finished_us);
            if with_earlier || with_later {
                overlapping += 1;
            }
            latest_end = latest_end.max(interval.finished_us);
        }
        // The most at once: starts and ends in time order, an end before a start at the same
        // instant (touching intervals do not overlap).
        let mut events: Vec<(u64, i64)> = sorted
            .iter()
            .flat_map(|i| [(i.started_us, 1), (i.finished_us, -1)])
            .collect();
        events.sort_unstable();
        let (mut now, mut peak) = (0i64, 0i64);
        for (_, step) in events {
            now += step;
            peak = peak.max(now);
        }
        Some(Contention {
            overlap: overlapping as f64 / sorted.len() as f64,
            peak_in_flight: u64::try_from(peak).unwrap_or(0),
        })
    }
}

impl Verdict {
    /// "+" only for an exact run that raced (or whose server did not say: then the evidence
    /// is unknown, and the table says so elsewhere); "?" for an exact run that did not race.
    pub fn judge(outcome: Outcome, contention: Option<Contention>) -> Verdict {
        match (outcome, contention) {
            (outcome, _) if outcome.is_no_verdict() => Verdict::NoVerdict,
            (Outcome::Exact, Some(contention)) if !contention.raced() => Verdict::Inconclusive,
            (Outcome::Exact, _) => Verdict::Exact,
            _ => Verdict::NotExact,
        }
    }

    /// How much a verdict weighs when trials are combined: one "-" makes the cell "-", then
    /// "!", "~", "?", and "+" only when every trial earned it.
    pub fn weight(self) -> u8 {
        match self {
            Verdict::Exact => 0,
            Verdict::Inconclusive => 1,
            Verdict::NotProven => 2,
            Verdict::NoVerdict => 3,
            Verdict::NotExact => 4,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Verdict::Exact => "+",
            Verdict::NotExact => "-",
            Verdict::Inconclusive => "?",
            Verdict::NoVerdict => "!",
            Verdict::NotProven => "~",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome::{self, *};
    use super::{Contention, DbInterval, Ends, Verdict};

    #[test]
    fn classes_follow_the_ends() {
        // (requests, acknowledged, rejected, unknown, change) -> outcome
        let cases = [
            ((100, 100, 0, 0, 100), Exact),
            ((100, 60, 0, 40, 100), Exact), // all applied, though 40 answers were lost in transit
            ((100, 60, 40, 0, 100), Extra), // 40 "rejected" requests were applied after all
            ((100, 60, 40, 0, 60), Rejected),
            ((100, 60, 30, 10, 60), Rejected), // refusals, and 10 unknown that were not applied
            ((100, 34, 0, 66, 34), Failed), // server errors only (a 500 per failure), none applied
            ((100, 100, 0, 0, 37), Lost),
            ((100, 60, 0, 40, 59), Lost),
            ((100, 60, 40, 0, 61), Extra),
            ((100, 60, 30, 10, 65), Ambiguous),
            ((100, 60, 30, 10, 70), Ambiguous),
            ((100, 60, 30, 10, 71), Extra),
        ];
        for ((requests, acknowledged, rejected, unknown, change), expected) in cases {
            let ends = Ends {
                requests,
                acknowledged,
                rejected,
                not_started: 0,
                unknown,
                change,
            };
            assert_eq!(Outcome::classify(ends), expected, "{ends:?}");
        }
    }

    #[test]
    fn only_an_exact_run_that_raced_earns_a_plus() {
        let raced = Contention {
            overlap: 0.95,
            peak_in_flight: 10,
        };
        let sequential = Contention {
            overlap: 0.0,
            peak_in_flight: 1,
        };
        let barely = Contention {
            overlap: 0.05,
            peak_in_flight: 2,
        };
        let cases = [
            (Exact, Some(raced), Verdict::Exact),
            (Exact, Some(sequential), Verdict::Inconclusive),
            (Exact, Some(barely), Verdict::Inconclusive),
            (Exact, None, Verdict::Exact),
            (Rejected, Some(raced), Verdict::NotExact),
            (Lost, Some(sequential), Verdict::NotExact),
            // No verdict: requests failed, never reached the database, or the count is unknown.
            (Failed, None, Verdict::NoVerdict),
            (Incomplete, Some(raced), Verdict::NoVerdict),
            (Unknown, None, Verdict::NoVerdict),
        ];
        for (outcome, contention, expected) in cases {
            assert_eq!(
                Verdict::judge(outcome, contention),
                expected,
                "{outcome} {contention:?}"
            );
        }
        assert_eq!(Verdict::Inconclusive.symbol(), "?");
    }

    #[test]
    fn contention_counts_overlapping_intervals_and_the_peak() {
        let spans = |pairs: &[(u64, u64)]| -> Vec<DbInterval> {
            pairs
                .iter()
                .map(|&(started_us, finished_us)| DbInterval {
                    started_us,
                    finished_us,
                })
                .collect()
        };
        // (intervals as (start, end), overlap, peak in flight)
        type Case = (&'static [(u64, u64)], f64, u64);
        let cases: [Case; 6] = [
            (&[(0, 10), (10, 20), (20, 30)], 0.0, 1), // one after the other, touching
            (&[(0, 10), (5, 15), (20, 30)], 2.0 / 3.0, 2),
            (&[(0, 100), (10, 20), (30, 40), (50, 60)], 1.0, 2), // one long, three inside it
            (&[(0, 10), (1, 11), (2, 12), (3, 13)], 1.0, 4),
            (&[(20, 30), (0, 10)], 0.0, 1), // order of arrival does not matter
            (&[(5, 6)], 0.0, 1),
        ];
        for (pairs, overlap, peak) in cases {
            let contention = Contention::of(&spans(pairs)).unwrap();
            assert!(
                (contention.overlap - overlap).abs() < 1e-9,
                "{pairs:?}: {contention:?}"
            );
            assert_eq!(contention.peak_in_flight, peak, "{pairs:?}");
        }
        assert_eq!(Contention::of(&[]), None);
    }
}
