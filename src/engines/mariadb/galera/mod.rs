//! The throwaway multi-primary cluster (`--topology galera`): three MariaDB Galera nodes, each
//! in a private directory of the `mysql` account, supervised and removed on every exit path
//! like the single throwaway server (see [`crate::engines::supervise`]), all in a network
//! namespace of their own ([`netns`]): their group communication and state transfers ask no
//! password, so no other local account may reach them. counter talks to each node over the
//! Unix socket in its directory.
//!
//! As MariaDB's own test suite runs three nodes on one host: the first node is installed and
//! starts a new cluster; the others start empty and receive the data by rsync state transfer
//! from it. Ready when every node says it is synced and the cluster has three members.

mod netns;
pub mod nodes;
mod pools;
mod recovery;

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::mysql::MySqlConnectOptions;

use super::server::{self, Binaries, find_binaries};
use crate::engines::errors::ErrorTable;
use crate::engines::options::Durability;
use crate::engines::supervise::{
    RunAs, StopPlan, Supervised, ThrowawayError, make_private, run_as,
};
use crate::model::Placement;
pub use netns::NetNamespace;
pub use pools::{APPLY_PATIENCE, NodePools};
pub use recovery::Recovery;

/// The cluster settings that change verdicts, as each is read (besides InnoDB's flush at
/// commit, which every MariaDB run records): how often an autocommit statement that failed
/// certification is retried silently, whether reads wait for the node to catch up, whether
/// `LOCK TABLES` is turned into a transaction.
pub const GALERA_SETTINGS: [(&str, &str); 3] = [
    (
        "wsrep_retry_autocommit",
        "SELECT CAST(@@wsrep_retry_autocommit AS CHAR)",
    ),
    ("wsrep_sync_wait", "SELECT CAST(@@wsrep_sync_wait AS CHAR)"),
    (
        "wsrep_convert_LOCK_to_trx",
        "SELECT IF(@@wsrep_convert_LOCK_to_trx, 'on', 'off')",
    ),
];

/// Where a Galera cluster's nodes are, and which one each increment runs on.
#[derive(Debug, Clone)]
pub struct Nodes {
    /// Each node's connection options for the `counter` database, the first node first.
    pub options: Vec<MySqlConnectOptions>,
    pub placement: Placement,
    /// How a stalled node is brought back (a throwaway cluster's only).
    pub recovery: Recovery,
}

impl Nodes {
    /// The cluster in words, for humans (no password is in it: root over sockets).
    pub fn describe(&self) -> String {
        format!(
            "a Galera cluster of {} nodes (increments: {})",
            self.options.len(),
            match self.placement {
                Placement::Same => "all on node 1",
                Placement::Spread => "round-robin over the nodes",
            }
        )
    }
}

/// The nodes a throwaway cluster has.
pub const NODES: usize = 3;

/// Each node's name (also the supervised program's, in messages).
const NODE_NAMES: [&str; NODES] = ["galera node 1", "galera node 2", "galera node 3"];

/// Ports inside the cluster's namespace (its own: fixed, never taken by anyone else). Node
/// `i` listens for SQL on `SQL + i`, for group communication on `GCOMM + 10 i` (incremental
/// state transfer on the port after it), for an rsync state transfer on `SST + 10 i`.
const SQL: u16 = 3306;
const GCOMM: u16 = 4567;
const SST: u16 = 4444;

/// Shutdown (SIGTERM: the node leaves the cluster), then SIGKILL.
const STOP: StopPlan = StopPlan {
    steps: &[
        (libc::SIGTERM, Duration::from_secs(15)),
        (libc::SIGKILL, Duration::from_secs(5)),
    ],
};

/// The Galera library Debian's galera-4 installs (COUNTER_GALERA_PROVIDER elsewhere).
fn provider() -> Option<String> {
    let path = std::env::var("COUNTER_GALERA_PROVIDER")
        .unwrap_or_else(|_| "/usr/lib/galera/libgalera_smm.so".to_string());
    Path::new(&path).is_file().then_some(path)
}

pub const PROVIDER_HINT: &str = "a Galera cluster needs the galera-4 provider and rsync (Debian/Ubuntu: apt-get install -y galera-4 rsync, which mariadb-server usually brings), or COUNTER_GALERA_PROVIDER set to libgalera_smm.so";

/// A running throwaway Galera cluster. Dropping it stops every node and deletes their
/// directories.
#[derive(Debug)]
pub struct LocalGalera {
    /// Declared first: the nodes stop before the namespace's handle goes.
    nodes: Vec<Supervised>,
    namespace: NetNamespace,
    bin: Binaries,
    provider: String,
    run_as: RunAs,
    durability: Durability,
    /// How long a node after the first may take to join (its state transfer included).
    join_within: Duration,
    /// How long the start took, until every node was synced.
    pub started_in: Duration,
}

impl LocalGalera {
    /// Makes the namespace, installs the first node and starts a new cluster with it, then
    /// starts the others, which join by state transfer. Blocking: call it from
    /// `spawn_blocking`. The cluster is synced once [`nodes::wait_synced`] says so.
    pub fn start(
        durability: Durability,
        join_within: Duration,
    ) -> Result<LocalGalera, ThrowawayError> {
        let started = Instant::now();
        let bin = find_binaries().ok_or(ThrowawayError::BinariesNotFound(server::BINARIES_HINT))?;
        let provider = provider().ok_or(ThrowawayError::BinariesNotFound(PROVIDER_HINT))?;
        let run_as = run_as(c"mysql", "MariaDB")?;
        let namespace = NetNamespace::new()?;
        let mut cluster = LocalGalera {
            nodes: Vec::new(),
            namespace,
            bin,
            provider,
            run_as,
            durability,
            join_within,
            started_in: Duration::ZERO,
        };
        for (i, name) in NODE_NAMES.iter().enumerate() {
            let node = Supervised::new_private(name, run_as, "counter-galera", STOP)?;
            make_private(&node.dir().join("data"), run_as)?;
            cluster.nodes.push(node);
            if i == 0 {
                server::install(&cluster.bin, run_as, cluster.nodes[0].dir())?;
            }
            cluster.launch(i, i == 0)?;
        }
        cluster.started_in = started.elapsed();
        Ok(cluster)
    }

    /// Starts node `i` in its directory (again, after a crash): the first start of the first
    /// node makes a new cluster, every other start joins the running one.
    pub fn launch(&mut self, i: usize, new_cluster: bool) -> Result<(), ThrowawayError> {
        let dir = self.nodes[i].dir().to_path_buf();
        let mut mariadbd = server::mariadbd(&self.bin, self.run_as, &dir, self.durability)?;
        mariadbd.args(node_args(i, &self.provider));
        if new_cluster {
            mariadbd.arg("--wsrep-new-cluster");
        }
        let log = server::error_log(&dir);
        let ready = server::logged_ready(&log);
        let node = &mut self.nodes[i];
        let join_within = self.join_within;
        self.namespace
            .run(move || match new_cluster {
                true => node.launch(mariadbd, &log, ready),
                false => node.launch_within(mariadbd, &log, ready, join_within),
            })
            .and_then(|launched| launched)
    }

    /// Connection options for `database` on each node, as root over its socket.
    pub fn connect_options(&self, database: &str) -> Vec<MySqlConnectOptions> {
        self.nodes
            .iter()
            .map(|node| {
                MySqlConnectOptions::new()
                    .socket(node.dir().join("mysqld.sock"))
                    .username("root")
                    .database(database)
            })
            .collect()
    }

    /// The first node's directory (the cluster's, in messages).
    pub fn dir(&self) -> &Path {
        self.nodes[0].dir()
    }

    /// Every node's directory.
    pub fn dirs(&self) -> Vec<&Path> {
        self.nodes.iter().map(Supervised::dir).collect()
    }

    /// Kills node `i`'s mariadbd (kill -9) and starts it again in its directory: it joins the
    /// cluster and receives the state it lacks by state transfer. Blocking.
    pub fn restart_node(&mut self, i: usize) -> Result<(), ThrowawayError> {
        self.kill_node(i);
        self.launch(i, false)
    }

    /// Kills node `i`'s mariadbd (kill -9: no goodbye to the others, which find it gone
    /// when it stops answering). [`LocalGalera::launch`] with `false` brings it back.
    pub fn kill_node(&mut self, i: usize) {
        self.nodes[i].signal_all(libc::SIGKILL);
        self.nodes[i].forget_dead();
    }

    /// Stops every node, the last first (the first is the one others joined), and deletes
    /// the directories; safe to call twice.
    pub fn stop(&mut self) {
        for node in self.nodes.iter_mut().rev() {
            node.stop();
        }
    }
}

impl Drop for LocalGalera {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Node `i`'s cluster settings: its ports, the provider, the cluster's address (the first
/// node's group communication), the rsync state transfer, and what Galera requires.
fn node_args(i: usize, provider: &str) -> Vec<String> {
    let step = 10 * i as u16;
    let gcomm = GCOMM + step;
    let first = GCOMM;
    vec![
        format!("--port={}", SQL + i as u16),
        "--bind-address=127.0.0.1".to_string(),
        "--wsrep-on=ON".to_string(),
        format!("--wsrep-provider={provider}"),
        "--wsrep-cluster-name=counter".to_string(),
        format!("--wsrep-node-name=node{}", i + 1),
        "--wsrep-node-address=127.0.0.1".to_string(),
        format!("--wsrep-node-incoming-address=127.0.0.1:{}", SQL + i as u16),
        // Every node: a node started again finds the others wherever it is in the list.
        format!(
            "--wsrep-cluster-address=gcomm://127.0.0.1:{first},127.0.0.1:{},127.0.0.1:{}",
            first + 10,
            first + 20
        ),
        format!(
            "--wsrep-provider-options=base_port={gcomm};gmcast.listen_addr=tcp://127.0.0.1:{gcomm};ist.recv_addr=127.0.0.1:{};gcache.size=64M",
            gcomm + 1
        ),
        format!("--wsrep-sst-receive-address=127.0.0.1:{}", SST + step),
        "--wsrep-sst-method=rsync".to_string(),
        "--binlog-format=ROW".to_string(),
        "--innodb-autoinc-lock-mode=2".to_string(),
        format!("--server-id={}", i + 1),
    ]
}

/// Which node a session runs on, in its server-side id: node `i`'s connection `c` is
/// `i * NODE_ID_STRIDE + c` (node 1's ids are the connection ids, as on a single server).
pub const NODE_ID_STRIDE: i64 = 1_000_000_000;

/// The statement a session on node `i` asks its id with (fixed text per node).
pub const NODE_ID_QUERIES: [&str; NODES] = [
    "SELECT CAST(CONNECTION_ID() AS SIGNED)",
    "SELECT CAST(1000000000 + CONNECTION_ID() AS SIGNED)",
    "SELECT CAST(2000000000 + CONNECTION_ID() AS SIGNED)",
];

/// What a session needs to know of the node it runs on: how to ask its id (the node is in
/// it), and how to read its errors.
#[derive(Clone, Copy)]
pub struct OnNode {
    pub id_query: &'static str,
    pub errors: &'static ErrorTable,
}

impl OnNode {
    /// A single server's session (or one on the first node, read as on a single server).
    pub const SINGLE: OnNode = OnNode {
        id_query: NODE_ID_QUERIES[0],
        errors: &super::errors::TABLE,
    };
}

/// (node, connection id) of a session's id.
pub fn node_of(id: i64) -> (usize, i64) {
    ((id / NODE_ID_STRIDE) as usize, id % NODE_ID_STRIDE)
}
