//! A run with a fault (`--topology ha --fault ...`): the hammer writes, the fault hits the
//! primary a second into the run, a watcher times how long no writable primary was named, and
//! after the run the node comes back before the next one. The record says what the fault did:
//! the node hit, the primary after, the timelines, the outage, and the acknowledged increments
//! the final primary does not have.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;

use super::MatrixError;
use crate::engines::DbError;
use crate::engines::ha::LocalHaCluster;
use crate::hammer::{self, Control, HammerConfig};
use crate::model::Fault;
use crate::model::results::{FaultRecord, RunRecord};

/// When the fault hits, after the run started: enough for writes to be under way.
const FAULT_AFTER: Duration = Duration::from_secs(1);
/// How long the watcher waits for a writable primary.
const WATCH: Duration = Duration::from_secs(60);

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
    let run = tokio::spawn(async move { hammer::run(&config, Arc::new(Control::default())).await });
    tokio::time::sleep(FAULT_AFTER).await;
    let victim = blocking(|| cluster.inject(fault)).map_err(DbError::from)?;
    let outage_s = watch_for_primary(cluster).await;
    let run = run
        .await
        .map_err(|err| MatrixError::Db(DbError::Join(err)))??;
    let mut record = run.record(trial);
    let primary_after = blocking(|| cluster.primary());
    let acknowledged = record.acknowledged;
    record.fault = Some(FaultRecord {
        fault: fault.name().to_string(),
        replication: cluster.replication().name().to_string(),
        victim: cluster.node_name(victim).to_string(),
        primary_after: primary_after.map(|p| cluster.node_name(p).to_string()),
        timeline_before,
        timeline_after: primary_after.and_then(|p| blocking(|| cluster.timeline(p))),
        outage_s,
        lost: record
            .change
            .map(|change| acknowledged.saturating_sub(u64::try_from(change).unwrap_or(0))),
    });
    blocking(|| cluster.recover(victim)).map_err(DbError::from)?;
    Ok(record)
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
