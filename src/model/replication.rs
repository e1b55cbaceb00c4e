//! Clusters: replicated PostgreSQL (how a primary's commits reach its standbys, and the faults
//! counter can inject into such a cluster) and a multi-primary MariaDB Galera cluster (which
//! node each increment runs on).

use std::fmt;

/// When a commit is acknowledged relative to the standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Replication {
    /// At once: a standby promoted after a crash may miss the last acknowledged commits.
    Async,
    /// Once the synchronous standby has it (Patroni's `synchronous_mode`).
    Sync,
}

impl Replication {
    pub fn name(self) -> &'static str {
        match self {
            Replication::Async => "async",
            Replication::Sync => "sync",
        }
    }
}

/// The throwaway cluster a run starts instead of a single server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cluster {
    /// PostgreSQL with a streaming standby, run by Patroni (`--topology ha`).
    Ha(Replication),
    /// Three MariaDB Galera nodes, every one a primary (`--topology galera`).
    Galera(GaleraSetup),
}

/// How a throwaway Galera cluster is used and started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaleraSetup {
    pub placement: Placement,
    /// How long a node may take to join the cluster (its state transfer included) before
    /// the start fails with the end of its log.
    pub join_within: std::time::Duration,
}

/// On a multi-primary cluster, which node each increment runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Every increment on the first node: what a single-writer deployment does.
    Same,
    /// Increments round-robin over the nodes (a schedule's instances each on a node of its
    /// own): what a load balancer in front of a multi-primary cluster does.
    Spread,
}

impl Placement {
    pub fn name(self) -> &'static str {
        match self {
            Placement::Same => "same",
            Placement::Spread => "spread",
        }
    }
}

/// A fault injected into a replicated cluster in the middle of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// `kill -9` of the primary's postmaster only: Patroni restarts it in place.
    PostmasterCrash,
    /// `kill -9` of the primary's Patroni and postmaster together: a failover to a standby.
    NodeCrash,
    /// `kill -9` of the primary's Patroni only: a standby is promoted while the old primary
    /// stays writable (split brain), until its Patroni comes back and rewinds it.
    ManagerCrash,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::PostmasterCrash => "postmaster-crash",
            Fault::NodeCrash => "node-crash",
            Fault::ManagerCrash => "manager-crash",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Replication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
