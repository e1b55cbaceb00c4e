//! What a run of N increments did to the counter: its outcome class, and the symbol the
//! +/- table shows for it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The classification of a run from its acknowledged and unknown requests and the counter's
/// change F.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// F == N: every request applied exactly once (the original's "+").
    Exact,
    /// F == acknowledged < N: the database refused work; nothing acknowledged was lost.
    Rejected,
    /// F < acknowledged: acknowledged increments vanished (the worst case).
    Lost,
    /// F > acknowledged + unknown: something was counted twice.
    Extra,
    /// acknowledged < F <= acknowledged + unknown: some requests of unknown fate were applied.
    Ambiguous,
}

impl Outcome {
    pub fn classify(requests: u64, acknowledged: u64, unknown: u64, change: i64) -> Outcome {
        let acknowledged = i128::from(acknowledged);
        let change = i128::from(change);
        // Lost and extra first: a run where F == N but more than the acknowledged and unknown
        // requests were applied had a "rejected" answer that lied, which is not exact.
        if change < acknowledged {
            Outcome::Lost
        } else if change > acknowledged + i128::from(unknown) {
            Outcome::Extra
        } else if change == i128::from(requests) {
            Outcome::Exact
        } else if change == acknowledged {
            Outcome::Rejected
        } else {
            Outcome::Ambiguous
        }
    }

    /// The original table's symbol: "+" only for exact.
    pub fn verdict(self) -> Verdict {
        if self == Outcome::Exact {
            Verdict::Exact
        } else {
            Verdict::NotExact
        }
    }

    /// Whether the run broke the promise that nothing acknowledged is lost or doubled.
    pub fn violates_invariant(self) -> bool {
        matches!(self, Outcome::Lost | Outcome::Extra)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Exact => "exact",
            Outcome::Rejected => "rejected",
            Outcome::Lost => "lost",
            Outcome::Extra => "extra",
            Outcome::Ambiguous => "ambiguous",
        }
    }
}

/// A run's symbol in the +/- table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// "+": the counter moved by exactly the number of requests.
    #[serde(rename = "+")]
    Exact,
    /// "-": it did not (refused, lost, doubled or ambiguous: the outcome says which).
    #[serde(rename = "-")]
    NotExact,
}

impl Verdict {
    pub fn symbol(self) -> &'static str {
        match self {
            Verdict::Exact => "+",
            Verdict::NotExact => "-",
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

    #[test]
    fn classes_follow_the_design() {
        let cases = [
            ((100, 100, 0, 100), Exact),
            ((100, 60, 40, 100), Exact), // all applied, though 40 answers were lost in transit
            ((100, 60, 0, 100), Extra),  // 40 "rejected" requests were applied after all
            ((100, 60, 0, 60), Rejected),
            ((100, 60, 10, 60), Rejected),
            ((100, 100, 0, 37), Lost),
            ((100, 60, 40, 59), Lost),
            ((100, 60, 0, 61), Extra),
            ((100, 60, 10, 65), Ambiguous),
            ((100, 60, 10, 70), Ambiguous),
            ((100, 60, 10, 71), Extra),
        ];
        for ((n, ack, unknown, change), expected) in cases {
            assert_eq!(
                Outcome::classify(n, ack, unknown, change),
                expected,
                "N={n} ack={ack} unknown={unknown} F={change}"
            );
        }
        assert_eq!(Exact.verdict().symbol(), "+");
        assert_eq!(Rejected.verdict().symbol(), "-");
    }
}
