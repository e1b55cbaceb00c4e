//! A fault in the replicated PostgreSQL cluster (`--topology ha`): signals to the primary's
//! processes, a watcher for the next writable primary, and the count read on the final
//! primary itself (the server's own connections may still lead to the old one).

use std::time::{Duration, Instant};

use sqlx::ConnectOptions;

use super::{Aftermath, WATCH, blocking};
use crate::engines::DbError;
use crate::engines::ha::LocalHaCluster;
use crate::engines::postgres;
use crate::model::Fault;

/// The primary's timeline before the fault.
pub(super) fn timeline(cluster: &LocalHaCluster) -> Option<u64> {
    blocking(|| cluster.primary().and_then(|p| cluster.timeline(p)))
}

/// Hits the primary; the node hit.
pub(super) fn inject(cluster: &mut LocalHaCluster, fault: Fault) -> Result<usize, DbError> {
    blocking(|| cluster.inject(fault)).map_err(DbError::from)
}

/// After the run: who is primary, on which timeline; the node hit comes back (after a split
/// brain, rewound: what it accepted alone is gone), then the final primary's count.
pub(super) async fn aftermath(
    cluster: &mut LocalHaCluster,
    victim: usize,
    id: i64,
) -> Result<Aftermath, DbError> {
    let primary_after = blocking(|| cluster.primary());
    let timeline_after = primary_after.and_then(|p| blocking(|| cluster.timeline(p)));
    blocking(|| cluster.recover(victim)).map_err(DbError::from)?;
    Ok(Aftermath {
        victim: cluster.node_name(victim).to_string(),
        replication: cluster.replication().name().to_string(),
        primary_after: primary_after.map(|p| cluster.node_name(p).to_string()),
        timeline_after,
        survivors: None,
        final_count: count_on_primary(cluster, id).await,
    })
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

/// Seconds until Patroni names a primary that accepts a connection out of recovery.
pub(super) async fn watch_for_primary(cluster: &LocalHaCluster) -> Option<f64> {
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
