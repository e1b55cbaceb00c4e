//! A run's connections to every node of a Galera cluster, and which node each increment runs
//! on (its placement).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::{MySqlConnection, MySqlPool};

use super::{NODE_ID_QUERIES, OnNode, Recovery, nodes};
use crate::engines::mariadb::errors;
use crate::model::DbFailure;
use crate::model::Placement;

/// How long every node may take to apply the cluster's last commit before the cluster is
/// said to be stalled (an applier waiting behind a local table lock never catches up).
pub const APPLY_PATIENCE: Duration = Duration::from_secs(5);

/// One pool per node, the first node first.
#[derive(Debug)]
pub struct NodePools {
    pools: Vec<MySqlPool>,
    pub placement: Placement,
    /// The next node of the round-robin (`spread`).
    next: AtomicUsize,
    pub recovery: Recovery,
}

impl NodePools {
    pub fn new(pools: Vec<MySqlPool>, placement: Placement, recovery: Recovery) -> NodePools {
        NodePools {
            pools,
            placement,
            next: AtomicUsize::new(0),
            recovery,
        }
    }

    pub fn len(&self) -> usize {
        self.pools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    /// The first node's pool.
    pub fn first(&self) -> &MySqlPool {
        &self.pools[0]
    }

    pub fn all(&self) -> &[MySqlPool] {
        &self.pools
    }

    /// The node the next increment runs on: the first (`same`), or the next of the
    /// round-robin (`spread`); with `instance` (a schedule's), that instance's own node under
    /// `spread`. With what its session needs to know of the node.
    pub fn pick(&self, instance: Option<usize>) -> (&MySqlPool, OnNode) {
        let node = match (self.placement, instance) {
            (Placement::Same, _) => 0,
            (Placement::Spread, Some(instance)) => instance % self.pools.len(),
            (Placement::Spread, None) => {
                self.next.fetch_add(1, Ordering::Relaxed) % self.pools.len()
            }
        };
        let errors = match self.placement {
            Placement::Same => &errors::TABLE,
            Placement::Spread => &errors::CLUSTER_TABLE,
        };
        let on_node = OnNode {
            id_query: NODE_ID_QUERIES[node],
            errors,
        };
        (&self.pools[node], on_node)
    }

    /// Waits until every node has applied every commit; a node that does not catch up in
    /// time is restarted (see [`Recovery`]), and the cluster is used once synced again.
    pub async fn settle(&self) -> Result<(), DbFailure> {
        let mut conns = Vec::with_capacity(self.pools.len());
        for pool in &self.pools {
            conns.push(pool.acquire().await.map_err(|e| errors::classify(&e))?);
        }
        let mut conns: Vec<&mut MySqlConnection> = conns.iter_mut().map(|c| &mut **c).collect();
        let applied = nodes::wait_applied(&mut conns, APPLY_PATIENCE).await;
        if applied.map_err(|e| errors::classify(&e))? {
            return Ok(());
        }
        let done = self.recovery.restart_stalled(&mut conns).await?;
        tracing::warn!("the Galera cluster stalled between runs: {done}");
        Ok(())
    }

    pub async fn close(&self) {
        for pool in &self.pools {
            pool.close().await;
        }
    }
}
