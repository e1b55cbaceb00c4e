//! A run with a fault (`--topology ha --fault ...`): the hammer writes, the fault hits the
//! primary two seconds in, a watcher times how long no writable primary was named, and the
//! writes go on for three seconds after one is named again; then the hammer is stopped (its
//! request count is only a cap) and the node comes back before the next run. So every run
//! writes before, during and after the fault, however fast the machine. The record says what the fault did:
//! the node hit, the primary after, the timelines, the outage, and the acknowledged increments
//! the final primary does not have.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;

use super::error::MatrixError;
use crate::engines::DbError;
use crate::engines::ha::LocalHaCluster;
use crate::engines::postgres;
use crate::hammer::{self, Control, HammerConfig};
use crate::model::results::{FaultRecord, RunRecord};
use crate::model::{Contention, Ends, Fault, Outcome, Verdict};

/// How long the watcher waits for a writable primary.
const WATCH: Duration = Duration::from_secs(60);
/// Writes before the fault.
const FAULT_AFTER: Duration = Duration::from_secs(2);
/// Writes after a writable primary is named again (in a split brain, to both primaries).
const WRITES_AFTER: Duration = Duration::from_secs(3);

/// Runs `hammer` with `fault` injected into `cluster`'s primary; the run's record with its
/// fault facts. The cluster is healthy again when this returns.
pub async fn run_through(
    fault: Fault,
    cluster: &mut LocalHaCluster,
    hammer: &HammerConfig,
    trial: u32,
) -> Result<RunRecord, MatrixError> {
    let timeline_before = blocking(|| cluster.primary().and_then(|p| cluster.timeline(p)));
    let config = hammer.clone();
    let control = Arc::new(Control::default());
    let progress = Arc::clone(&control);
    let run = tokio::spawn(async move { hammer::run(&config, control).await });
    let started = Instant::now();
    let third = (hammer.requests / 3).max(1);
    while started.elapsed() < FAULT_AFTER && progress.completed() < third && !run.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let victim = blocking(|| cluster.inject(fault)).map_err(DbError::from)?;
    let outage_s = watch_for_primary(cluster).await;
    tokio::time::sleep(WRITES_AFTER).await;
    progress.stop();
    let run = run
        .await
        .map_err(|err| MatrixError::Db(DbError::Join(err)))??;
    let mut record = run.record(trial);
    // A planned end: the run is the requests that got their answer.
    record.requests = record.completed;
    record.interrupted = false;
    let primary_after = blocking(|| cluster.primary());
    let timeline_after = primary_after.and_then(|p| blocking(|| cluster.timeline(p)));
    // The node comes back (after a split brain, rewound: what it accepted alone is gone),
    // and the count is the final primary's, read there directly: the server's own
    // connections may still lead to the old primary.
    blocking(|| cluster.recover(victim)).map_err(DbError::from)?;
    let final_count = count_on_primary(cluster, hammer.method.row_id()).await;
    rejudge(&mut record, final_count);
    let acknowledged = record.acknowledged;
    record.fault = Some(FaultRecord {
        fault: fault.name().to_string(),
        replication: cluster.replication().name().to_string(),
        victim: cluster.node_name(victim).to_string(),
        primary_after: primary_after.map(|p| cluster.node_name(p).to_string()),
        timeline_before,
        timeline_after,
        outage_s,
        lost: record
            .change
            .map(|change| acknowledged.saturating_sub(u64::try_from(change).unwrap_or(0))),
    });
    Ok(record)
}

/// Counter `id` as the current primary has it (None when it cannot be read).
async fn count_on_primary(cluster: &LocalHaCluster, id: i64) -> Option<i64> {
    let primary = blocking(|| cluster.primary())?;
    let mut conn = cluster
        .node_options(primary, "counter")
        .connect()
        .await
        .ok()?;
    let row: Option<(i64, i64)> = sqlx::query_as(postgres::READS.get)
        .bind(id)
        .fetch_optional(&mut conn)
        .await
        .ok()?;
    Some(row.map_or(0, |(_, count)| count))
}

/// The record's count, outcome and verdict from the final primary's count.
fn rejudge(record: &mut RunRecord, final_count: Option<i64>) {
    record.final_count = final_count;
    record.change = final_count.map(|count| count - record.before);
    record.outcome = match record.change {
        Some(change) => Outcome::classify(Ends {
            requests: record.completed,
            acknowledged: record.acknowledged,
            rejected: record.rejected,
            not_started: crate::model::results::not_started(&record.errors),
            unknown: record.unknown,
            change,
        }),
        None => Outcome::Unknown,
    };
    let contention = record
        .overlap
        .zip(record.peak_in_flight)
        .map(|(overlap, peak_in_flight)| Contention {
            overlap,
            peak_in_flight,
        });
    record.verdict = Verdict::judge(record.outcome, contention);
}

/// Seconds until Patroni names a primary that accepts a connection out of recovery.
async fn watch_for_primary(cluster: &LocalHaCluster) -> Option<f64> {
    let started = Instant::now();
    while started.elapsed() < WATCH {
        if let Some(primary) = blocking(|| cluster.primary()) {
            let options = cluster.node_options(primary, "counter");
            let writable = async {
                let mut conn = options.connect().await.ok()?;
                let recovering: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                    .fetch_one(&mut conn)
                    .await
                    .ok()?;
                Some(!recovering)
            };
            let answer = tokio::time::timeout(Duration::from_secs(1), writable).await;
            if answer.ok().flatten() == Some(true) {
                return Some(started.elapsed().as_secs_f64());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Runs a blocking call of the cluster (signals, REST calls on loopback) without stalling
/// the runtime's other tasks.
fn blocking<T>(call: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(call)
}
