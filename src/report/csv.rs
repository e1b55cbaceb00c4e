//! CSV, one row per run (cell and trial). A fact the run could not learn is an empty field.

use crate::model::results::RunRecord;

/// The original results file's columns, then what was added since: the knobs (think_ms,
/// replicas, isolation_scope), the evidence of contention (overlap, peak_in_flight) and the
/// database settings that change outcomes (`fsync=on;synchronous_commit=on`), and with
/// `--schedules` the cell's verdict over every schedule and its worst class.
pub const COLUMNS: [&str; 32] = [
    "engine",
    "server_version",
    "isolation",
    "effective_isolation",
    "method",
    "method_name",
    "retry",
    "requests",
    "concurrency",
    "pool_size",
    "trial",
    "acknowledged",
    "rejected",
    "unknown",
    "final_count",
    "verdict",
    "outcome",
    "errors",
    "duration_ms",
    "throughput_rps",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "think_ms",
    "replicas",
    "overlap",
    "peak_in_flight",
    "isolation_scope",
    "settings",
    "duplicate_writes",
    "schedule_verdict",
    "schedule_worst",
];

/// The header and one line per record.
pub fn to_csv(records: &[RunRecord]) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let number = |value: Option<u64>| value.map(|v| v.to_string()).unwrap_or_default();
    for r in records {
        let fields = [
            text(&r.engine),
            text(&r.server_version),
            r.isolation
                .map(|l| l.sql_name().to_string())
                .unwrap_or_default(),
            text(&r.effective_isolation),
            r.method.to_string(),
            r.method_name.clone(),
            number(r.retry.map(u64::from)),
            r.requests.to_string(),
            r.concurrency.to_string(),
            number(r.pool_size.map(u64::from)),
            r.trial.to_string(),
            r.acknowledged.to_string(),
            r.rejected.to_string(),
            r.unknown.to_string(),
            r.final_count.map(|c| c.to_string()).unwrap_or_default(),
            r.verdict.to_string(),
            r.outcome.to_string(),
            r.errors_text(),
            r.duration_ms.to_string(),
            r.throughput_rps.to_string(),
            r.latency.p50_ms.to_string(),
            r.latency.p99_ms.to_string(),
            r.latency.max_ms.to_string(),
            number(r.think_ms),
            r.replicas.to_string(),
            r.overlap.map(|o| o.to_string()).unwrap_or_default(),
            number(r.peak_in_flight),
            r.isolation_scope
                .map(|s| s.name().to_string())
                .unwrap_or_default(),
            settings(r),
            r.duplicate_writes.to_string(),
            r.schedule_verdict
                .map(|v| v.to_string())
                .unwrap_or_default(),
            r.schedule_worst
                .map(|c| c.key().to_string())
                .unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| quote(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// `fsync=on;synchronous_commit=on`.
fn settings(r: &RunRecord) -> String {
    let pairs = r
        .settings
        .iter()
        .map(|(name, value)| format!("{name}={value}"));
    pairs.collect::<Vec<_>>().join(";")
}

/// RFC 4180 quoting, only where needed.
pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("15.18 (Debian)"), "15.18 (Debian)");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
