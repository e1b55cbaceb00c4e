//! Bringing a stalled cluster back. Tried by hand: `LOCK TABLES` on two nodes leaves one
//! node's applier waiting for a metadata lock behind the local table lock, while that lock's
//! own COMMIT waits behind the applier (commits are applied in the cluster's order); nothing
//! moves, for as long as `lock_wait_timeout` (a day), and only stopping the node ends it. So
//! a node that has not applied what the others committed within
//! [`super::APPLY_PATIENCE`] is restarted (kill -9, then a start that joins again and
//! receives the state by transfer), and the cluster is used again once every node is synced.

use std::sync::{Arc, Mutex, Weak};

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};

use super::{LocalGalera, nodes};
use crate::model::{DbFailure, ErrorClass};

/// The handle that restarts nodes of a throwaway cluster (none for a cluster counter did
/// not start: its stall is reported, not repaired).
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    cluster: Weak<Mutex<LocalGalera>>,
    /// Each node's options, to wait until it is synced again.
    nodes: Vec<MySqlConnectOptions>,
}

impl Recovery {
    pub fn new(cluster: &Arc<Mutex<LocalGalera>>, nodes: Vec<MySqlConnectOptions>) -> Recovery {
        Recovery {
            cluster: Arc::downgrade(cluster),
            nodes,
        }
    }

    /// Restarts every node behind the others (`last_committed`, per node) and waits until
    /// the cluster is synced again; says what it did, for the transcript.
    pub async fn restart_behind(&self, last_committed: &[i64]) -> Result<String, DbFailure> {
        let newest = last_committed.iter().copied().max().unwrap_or(0);
        let behind: Vec<usize> = (0..last_committed.len())
            .filter(|&i| last_committed[i] < newest)
            .collect();
        let Some(cluster) = self.cluster.upgrade() else {
            return Err(failure(
                "the cluster is not one counter started: it cannot be restarted",
            ));
        };
        for &node in &behind {
            let cluster = cluster.clone();
            let restarted = tokio::task::spawn_blocking(move || {
                let mut cluster = cluster
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                cluster.restart_node(node)
            })
            .await;
            match restarted {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    return Err(failure(format!("node {} did not restart: {err}", node + 1)));
                }
                Err(err) => {
                    return Err(failure(format!("node {} did not restart: {err}", node + 1)));
                }
            }
        }
        nodes::wait_synced(&self.nodes, nodes::SYNC_DEADLINE)
            .await
            .map_err(|err| failure(err.to_string()))?;
        let names: Vec<String> = behind.iter().map(|i| format!("node {}", i + 1)).collect();
        Ok(format!(
            "{} restarted (kill -9, rejoined by state transfer)",
            names.join(" and ")
        ))
    }

    /// Restarts the nodes behind, as read through `conns` (one per node).
    pub async fn restart_stalled(
        &self,
        conns: &mut [&mut MySqlConnection],
    ) -> Result<String, DbFailure> {
        let counters = nodes::counters(conns)
            .await
            .map_err(|err| failure(format!("the nodes could not be asked: {err}")))?;
        self.restart_behind(&counters.last_committed).await
    }
}

fn failure(why: impl Into<String>) -> DbFailure {
    DbFailure::ours(ErrorClass::Internal, why.into())
}
