//! A run with a fault (`--topology ha|galera --fault ...`): the hammer writes, the fault hits
//! a node two seconds in, a watcher times how long the cluster took to be writable again
//! (Patroni: a writable primary named; Galera: the surviving nodes synced without the node
//! hit), and the writes go on for three seconds after that; then the hammer is stopped (its
//! request count is only a cap) and the node comes back before the next run. So every run
//! writes before, during and after the fault, however fast the machine. The record says what
//! the fault did: the node hit, what the cluster was after, the outage, and the acknowledged
//! increments the cluster does not have.

mod galera;
mod ha;

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::MatrixError;
use crate::engines::DbError;
use crate::engines::ha::LocalHaCluster;
use crate::hammer::{self, Control, HammerConfig};
use crate::model::results::{FaultRecord, RunRecord};
use crate::model::{Contention, Ends, Fault, Outcome, Verdict};
pub use galera::GaleraCluster;

/// How long the watcher waits for the cluster to be writable again.
const WATCH: Duration = Duration::from_secs(60);
/// Writes before the fault.
const FAULT_AFTER: Duration = Duration::from_secs(2);
/// Writes after the cluster is writable again (in a split brain, to both primaries).
const WRITES_AFTER: Duration = Duration::from_secs(3);

/// The throwaway cluster a fault hits.
pub enum FaultTarget<'a> {
    Ha(&'a mut LocalHaCluster),
    Galera(GaleraCluster),
}

/// What a topology says once the run is over and the node hit is back.
struct Aftermath {
    victim: String,
    replication: String,
    primary_after: Option<String>,
    timeline_after: Option<u64>,
    /// Galera: the members of the cluster the surviving nodes formed.
    survivors: Option<u64>,
    /// The count the cluster kept (None when it cannot be read, or is not known).
    final_count: Option<i64>,
}

/// Runs `hammer` with `fault` injected into `target`; the run's record with its fault facts.
/// The cluster is healthy again when this returns.
pub async fn run_through(
    fault: Fault,
    target: &mut FaultTarget<'_>,
    hammer: &HammerConfig,
    trial: u32,
) -> Result<RunRecord, MatrixError> {
    let timeline_before = match target {
        FaultTarget::Ha(cluster) => ha::timeline(cluster),
        FaultTarget::Galera(_) => None,
    };
    let config = hammer.clone();
    let control = Arc::new(Control::default());
    let progress = Arc::clone(&control);
    let run = tokio::spawn(async move { hammer::run(&config, control).await });
    // The clock starts at the first answer, not at the spawn: the reset before the first
    // request can take seconds (a ledger's thousands of entries purged on every node), and a
    // fault that hit it failed the run instead of its writes (seen: 1 run in 8).
    let spawned = Instant::now();
    while progress.completed() == 0 && !run.is_finished() && spawned.elapsed() < WATCH {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let third = (hammer.requests / 3).max(1);
    while started.elapsed() < FAULT_AFTER && progress.completed() < third && !run.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let victim = match target {
        FaultTarget::Ha(cluster) => ha::inject(cluster, fault)?,
        FaultTarget::Galera(cluster) => galera::inject(cluster),
    };
    let outage_s = match target {
        FaultTarget::Ha(cluster) => ha::watch_for_primary(cluster).await,
        FaultTarget::Galera(cluster) => galera::watch_for_survivors(cluster, victim).await,
    };
    tokio::time::sleep(WRITES_AFTER).await;
    progress.stop();
    let run = run
        .await
        .map_err(|err| MatrixError::Db(DbError::Join(err)))??;
    let mut record = run.record(trial);
    // A planned end: the run is the requests that got their answer.
    record.requests = record.completed;
    record.interrupted = false;
    let id = hammer.method.row_id();
    let after = match target {
        FaultTarget::Ha(cluster) => ha::aftermath(cluster, victim, id).await?,
        FaultTarget::Galera(cluster) => galera::aftermath(cluster, victim, id).await?,
    };
    rejudge(&mut record, after.final_count);
    let acknowledged = record.acknowledged;
    record.fault = Some(FaultRecord {
        fault: fault.name().to_string(),
        replication: after.replication,
        victim: after.victim,
        primary_after: after.primary_after,
        timeline_before,
        timeline_after: after.timeline_after,
        outage_s,
        survivors: after.survivors,
        lost: record
            .change
            .map(|change| acknowledged.saturating_sub(u64::try_from(change).unwrap_or(0))),
    });
    Ok(record)
}

/// The record's count, outcome and verdict from the count the cluster kept.
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

/// Runs a blocking call of the cluster (signals, REST calls on loopback, a node's start)
/// without stalling the runtime's other tasks.
fn blocking<T>(call: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(call)
}
