//! CSV, one row per run (cell and trial). A fact the run could not learn is an empty field.

use serde::Serialize;

use crate::model::results::RunRecord;

/// One CSV row: the header is its field names, the fields its values, one definition. The
/// columns and their order are a promise (scripts read them by position): the original
/// results file's columns, then what was added since: the knobs (think_ms, replicas,
/// isolation_scope), the evidence of contention (overlap, peak_in_flight), the database
/// settings that change outcomes (`fsync=on;synchronous_commit=on`), and with `--schedules`
/// the cell's verdict over every schedule and its worst class. A fact the run could not learn
/// is an empty field. Decimals are written as Rust writes them (`100`, not `100.0`), as they
/// always were.
#[derive(Debug, Default, Serialize)]
struct RunRow {
    engine: Option<String>,
    server_version: Option<String>,
    isolation: Option<&'static str>,
    effective_isolation: Option<String>,
    method: u32,
    method_name: String,
    retry: Option<u32>,
    requests: u64,
    concurrency: u64,
    pool_size: Option<u32>,
    trial: u32,
    acknowledged: u64,
    rejected: u64,
    unknown: u64,
    final_count: Option<i64>,
    verdict: String,
    outcome: String,
    errors: String,
    duration_ms: String,
    throughput_rps: String,
    p50_ms: String,
    p99_ms: String,
    max_ms: String,
    think_ms: Option<u64>,
    replicas: u32,
    overlap: Option<String>,
    peak_in_flight: Option<u64>,
    isolation_scope: Option<&'static str>,
    settings: String,
    duplicate_writes: u64,
    schedule_verdict: Option<String>,
    schedule_worst: Option<&'static str>,
}

impl RunRow {
    fn of(r: &RunRecord) -> RunRow {
        RunRow {
            engine: r.engine.clone(),
            server_version: r.server_version.clone(),
            isolation: r.isolation.map(|level| level.sql_name()),
            effective_isolation: r.effective_isolation.clone(),
            method: r.method,
            method_name: r.method_name.clone(),
            retry: r.retry,
            requests: r.requests,
            concurrency: r.concurrency,
            pool_size: r.pool_size,
            trial: r.trial,
            acknowledged: r.acknowledged,
            rejected: r.rejected,
            unknown: r.unknown,
            final_count: r.final_count,
            verdict: r.verdict.to_string(),
            outcome: r.outcome.to_string(),
            errors: r.errors_text(),
            duration_ms: r.duration_ms.to_string(),
            throughput_rps: r.throughput_rps.to_string(),
            p50_ms: r.latency.p50_ms.to_string(),
            p99_ms: r.latency.p99_ms.to_string(),
            max_ms: r.latency.max_ms.to_string(),
            think_ms: r.think_ms,
            replicas: r.replicas,
            overlap: r.overlap.map(|o| o.to_string()),
            peak_in_flight: r.peak_in_flight,
            isolation_scope: r.isolation_scope.map(|scope| scope.name()),
            settings: settings(r),
            duplicate_writes: r.duplicate_writes,
            schedule_verdict: r.schedule_verdict.map(|v| v.to_string()),
            schedule_worst: r.schedule_worst.map(|c| c.key()),
        }
    }
}

/// The header: the row type's field names, in order.
pub fn columns() -> Vec<String> {
    header_of(RunRow::default())
}

/// The header and one line per record.
pub fn to_csv(records: &[RunRecord]) -> String {
    write_rows(columns(), records.iter().map(RunRow::of))
}

/// `rows` as CSV (RFC 4180 quoting where needed) after `header` (written even with no rows).
pub fn write_rows<T: Serialize>(header: Vec<String>, rows: impl IntoIterator<Item = T>) -> String {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to memory cannot fail, and every row type here is a flat struct.
    writer.write_record(&header).expect("a header");
    for row in rows {
        writer.serialize(row).expect("a flat row");
    }
    let bytes = writer.into_inner().expect("written to memory");
    String::from_utf8(bytes).expect("fields are text")
}

/// The field names of a row type, from one of its values.
pub fn header_of<T: Serialize>(row: T) -> Vec<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.serialize(row).expect("a flat row");
    let bytes = writer.into_inner().expect("written to memory");
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header = reader.headers().expect("a header").clone();
    header.iter().map(str::to_string).collect()
}

/// `fsync=on;synchronous_commit=on`.
fn settings(r: &RunRecord) -> String {
    let pairs = r
        .settings
        .iter()
        .map(|(name, value)| format!("{name}={value}"));
    pairs.collect::<Vec<_>>().join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scripts read these columns by position: they and their order do not change (new ones
    /// go at the end).
    #[test]
    fn the_header_is_pinned() {
        let pinned = "engine,server_version,isolation,effective_isolation,method,method_name,\
                      retry,requests,concurrency,pool_size,trial,acknowledged,rejected,unknown,\
                      final_count,verdict,outcome,errors,duration_ms,throughput_rps,p50_ms,\
                      p99_ms,max_ms,think_ms,replicas,overlap,peak_in_flight,isolation_scope,\
                      settings,duplicate_writes,schedule_verdict,schedule_worst";
        assert_eq!(columns().join(","), pinned);
    }

    #[derive(Serialize)]
    struct Pair {
        name: String,
        value: Option<u32>,
    }

    #[test]
    fn fields_are_quoted_only_where_needed_and_read_back() {
        let rows = [
            Pair {
                name: "15.18 (Debian)".into(),
                value: Some(1),
            },
            Pair {
                name: "a,b".into(),
                value: None,
            },
            Pair {
                name: "say \"hi\"".into(),
                value: Some(3),
            },
        ];
        let text = write_rows(vec!["name".into(), "value".into()], rows);
        assert_eq!(
            text,
            "name,value\n15.18 (Debian),1\n\"a,b\",\n\"say \"\"hi\"\"\",3\n"
        );
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let back: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(back[2], ["say \"hi\"", "3"]);
        assert_eq!(back[1], ["a,b", ""]);
    }
}
