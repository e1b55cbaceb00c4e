//! A node crash in the Galera cluster (`--topology galera --fault node-crash`): `kill -9` of
//! node 1's mariadbd, the node every increment runs on under `same` and one of three under
//! `spread` (where the requests sent to it fail, and the others go on). A commit is
//! acknowledged once the cluster has certified its write set, so the surviving nodes should
//! have every acknowledged increment: the count is read on each of them (waiting until each
//! applied what the cluster committed) before the node comes back by state transfer. A
//! commit in flight when the node died has an unknown fate, and is counted so.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::{Aftermath, WATCH, blocking};
use crate::engines::DbError;
use crate::engines::mariadb;
use crate::engines::mariadb::galera::{LocalGalera, nodes};

/// The node a fault hits: node 1.
const VICTIM: usize = 0;

/// A throwaway Galera cluster, with each node's options for the `counter` database.
pub struct GaleraCluster {
    pub cluster: Arc<Mutex<LocalGalera>>,
    pub nodes: Vec<MySqlConnectOptions>,
}

impl GaleraCluster {
    fn survivors(&self, victim: usize) -> Vec<MySqlConnectOptions> {
        let mut survivors = self.nodes.clone();
        survivors.remove(victim);
        survivors
    }

    fn with_cluster<T>(&self, call: impl FnOnce(&mut LocalGalera) -> T) -> T {
        blocking(|| {
            let mut cluster = self
                .cluster
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            call(&mut cluster)
        })
    }
}

/// Kills node 1; the node hit.
pub(super) fn inject(target: &GaleraCluster) -> usize {
    target.with_cluster(|cluster| cluster.kill_node(VICTIM));
    VICTIM
}

/// Seconds until the surviving nodes are synced members of a cluster without the node hit
/// (the others notice a killed node only when it stops answering).
pub(super) async fn watch_for_survivors(target: &GaleraCluster, victim: usize) -> Option<f64> {
    let started = Instant::now();
    let survivors = target.survivors(victim);
    nodes::wait_synced(&survivors, WATCH).await.ok()?;
    Some(started.elapsed().as_secs_f64())
}

/// The count on the surviving nodes, then the node hit back in the cluster.
pub(super) async fn aftermath(
    target: &GaleraCluster,
    victim: usize,
    id: i64,
) -> Result<Aftermath, DbError> {
    let survivors = target.survivors(victim);
    let final_count = count_on_survivors(&survivors, id).await;
    target
        .with_cluster(|cluster| cluster.launch(victim, false))
        .map_err(DbError::from)?;
    nodes::wait_synced(&target.nodes, nodes::SYNC_DEADLINE).await?;
    Ok(Aftermath {
        victim: format!("node {}", victim + 1),
        replication: "galera".to_string(),
        primary_after: None,
        timeline_after: None,
        survivors: Some(survivors.len() as u64),
        final_count,
    })
}

/// Counter `id` as every surviving node has it, each read after the node applied what the
/// cluster committed; None when one cannot be read or two disagree (then it is unknown
/// which count survived).
async fn count_on_survivors(survivors: &[MySqlConnectOptions], id: i64) -> Option<i64> {
    let mut counts = Vec::new();
    for options in survivors {
        let mut conn = options.connect().await.ok()?;
        sqlx::query(nodes::CAUSAL_READS)
            .execute(&mut conn)
            .await
            .ok()?;
        let row: Option<(i64, i64)> = sqlx::query_as(mariadb::READS.get)
            .bind(id)
            .fetch_optional(&mut conn)
            .await
            .ok()?;
        let _ = conn.close().await;
        counts.push(row.map_or(0, |(_, count)| count));
    }
    let first = *counts.first()?;
    if counts.iter().any(|&count| count != first) {
        tracing::warn!("the surviving Galera nodes disagree on the count: {counts:?}");
        return None;
    }
    Some(first)
}
