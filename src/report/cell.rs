//! A cell of the matrix, (level, method): its trials, and what they add up to (the verdict,
//! the errors, the contention, the throughput).

use std::collections::BTreeMap;

use super::or_unknown;
use crate::model::results::{MatrixResult, RunRecord};
use crate::model::{Isolation, MethodId, Verdict};

/// The runs of one (level, method) cell: its trials.
pub struct Cell<'a> {
    pub level: Isolation,
    pub method: MethodId,
    pub runs: Vec<&'a RunRecord>,
}

impl Cell<'_> {
    /// Trials whose counter moved by exactly the number of requests (raced or not).
    pub fn exact_trials(&self) -> usize {
        let runs = self.runs.iter();
        runs.filter(|r| matches!(r.verdict, Verdict::Exact | Verdict::Inconclusive))
            .count()
    }

    /// The cell's verdict: "-" when a trial was not exact; "!" when a trial had no verdict
    /// (and none was "-"); "+" when every trial was exact and raced; "?" when every trial was
    /// exact but one at least did not race. None for n/a.
    pub fn verdict(&self) -> Option<Verdict> {
        self.runs
            .iter()
            .map(|r| r.verdict)
            .max_by_key(|v| v.weight())
    }

    /// The verdict's symbol; with several trials, also how many were exact; "n/a" for a cell
    /// the engine cannot run.
    pub fn symbol(&self) -> String {
        let Some(verdict) = self.verdict() else {
            return "n/a".to_string();
        };
        let all = self.runs.len();
        if all > 1 {
            format!("{verdict} {}/{all}", self.exact_trials())
        } else {
            verdict.to_string()
        }
    }

    /// The least contention over the trials, as "0.97 / 12" (overlap / peak in flight);
    /// "unknown" when the server did not report it.
    pub fn contention_text(&self) -> String {
        let overlap = self.runs.iter().map(|r| r.overlap);
        let peak = self.runs.iter().map(|r| r.peak_in_flight);
        let least_overlap = overlap.collect::<Option<Vec<f64>>>();
        let least_peak = peak.collect::<Option<Vec<u64>>>();
        match (least_overlap, least_peak) {
            (Some(overlaps), Some(peaks)) if !overlaps.is_empty() => format!(
                "{:.2} / {}",
                overlaps.into_iter().fold(f64::INFINITY, f64::min),
                peaks.into_iter().min().unwrap_or(0)
            ),
            _ => "unknown".to_string(),
        }
    }

    /// Error tallies summed over the trials, most frequent first.
    pub fn errors(&self) -> Vec<(String, u64)> {
        let mut sum: BTreeMap<String, u64> = BTreeMap::new();
        for run in &self.runs {
            for (code, n) in &run.errors {
                *sum.entry(code.clone()).or_default() += n;
            }
        }
        let mut errors: Vec<(String, u64)> = sum.into_iter().collect();
        errors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        errors
    }

    /// `code=n` of the `limit` most frequent errors, space-separated; "-" when there are none.
    pub fn errors_text(&self, limit: usize) -> String {
        let errors: Vec<String> = self
            .errors()
            .iter()
            .take(limit)
            .map(|(code, n)| format!("{code}={n}"))
            .collect();
        if errors.is_empty() {
            "-".to_string()
        } else {
            errors.join(" ")
        }
    }

    /// The counter's change in each trial, over the requests: "52,51/100".
    pub fn changes_text(&self) -> String {
        let changes: Vec<String> = self.runs.iter().map(|r| or_unknown(r.change)).collect();
        let requests = self.runs.first().map(|r| r.requests).unwrap_or(0);
        format!("{}/{requests}", changes.join(","))
    }

    /// The worst p99 latency over the trials.
    pub fn p99_ms(&self) -> f64 {
        self.runs
            .iter()
            .map(|r| r.latency.p99_ms)
            .fold(0.0, f64::max)
    }

    /// The mean throughput over the trials.
    pub fn mean_rps(&self) -> f64 {
        let total: f64 = self.runs.iter().map(|r| r.throughput_rps).sum();
        total / self.runs.len().max(1) as f64
    }

    /// The distinct outcomes of the trials, in order of first appearance.
    pub fn outcomes(&self) -> String {
        let mut seen: Vec<&str> = Vec::new();
        for run in &self.runs {
            let outcome = run.outcome.as_str();
            if !seen.contains(&outcome) {
                seen.push(outcome);
            }
        }
        seen.join(", ")
    }
}

/// The cells of a result run with `retry`, level by level, method by method.
pub fn cells(result: &MatrixResult, retry: u32) -> Vec<Cell<'_>> {
    let mut cells = Vec::new();
    for &level in &result.meta.levels {
        for &number in &result.meta.methods {
            let Some(method) = MethodId::from_number(u64::from(number)) else {
                continue;
            };
            let runs = result
                .runs
                .iter()
                .filter(|r| {
                    r.isolation == Some(level) && r.method == number && r.retry == Some(retry)
                })
                .collect();
            cells.push(Cell {
                level,
                method,
                runs,
            });
        }
    }
    cells
}
