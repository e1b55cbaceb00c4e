//! The throwaway replicated PostgreSQL (`--topology ha`): one etcd member and two Patroni
//! nodes (a primary and a streaming standby) from the distribution's packages, everything on
//! loopback, each in a private directory of the `postgres` account, supervised and removed on
//! every exit path like the single cluster (see [`crate::engines::supervise`]). Patroni starts
//! its postmaster in a session of its own, which outlives Patroni: each node's supervision
//! also stops the postmaster named by its `postmaster.pid`, after a `kill -9` of counter too.
//!
//! It admits no local account but the one that started counter: password authentication
//! (SCRAM, random passwords made for the run) on every connection, sockets inside the private
//! directories.
//!
//! Faults ([`Fault`]) are injected with signals, as the facts of a machine like this one were
//! found by hand: `kill -9` of the postmaster, of Patroni and the postmaster, or of Patroni.

mod config;
mod etcd;
/// Patroni's REST API lives beside `ha` (PostgreSQL connections follow a primary through it).
pub use super::patroni as rest;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;

use super::options::Durability;
use super::postgres::binaries::find_server_binaries;
use super::supervise::{
    self, RunAs, StopPlan, Supervised, ThrowawayError, command, io_err, run_as, signal,
};
use crate::model::{Fault, Replication};
use config::{NodeConfig, patroni_yaml};
pub use rest::{HaView, NodeAddr};

/// Patroni stops its PostgreSQL on SIGTERM (6-10 s here), then SIGKILL.
const PATRONI_STOP: StopPlan = StopPlan {
    steps: &[
        (libc::SIGTERM, Duration::from_secs(15)),
        (libc::SIGKILL, Duration::from_secs(5)),
    ],
};

const ETCD_STOP: StopPlan = StopPlan {
    steps: &[
        (libc::SIGTERM, Duration::from_secs(5)),
        (libc::SIGKILL, Duration::from_secs(5)),
    ],
};

/// How long the cluster may take to have a primary and a streaming (or synchronous) standby.
const HEALTHY_DEADLINE: Duration = Duration::from_secs(90);

pub const BINARIES_HINT: &str = "a replicated cluster needs etcd and Patroni (Debian/Ubuntu: apt-get install -y etcd-server patroni python3-etcd) and PostgreSQL's server binaries";

/// One Patroni node.
#[derive(Debug)]
struct Node {
    addr: NodeAddr,
    patroni: Supervised,
    config: PathBuf,
}

/// A running throwaway replicated cluster. Dropping it stops every process and deletes every
/// directory (nodes first, then etcd).
#[derive(Debug)]
pub struct LocalHaCluster {
    nodes: Vec<Node>,
    /// Held for its `Drop`: stopped after the nodes.
    _etcd: Supervised,
    password: String,
    replication: Replication,
    run_as: RunAs,
}

impl LocalHaCluster {
    /// Starts etcd, then a primary, then a standby; returns once the standby streams (and,
    /// with `Sync`, is the synchronous one). Blocking: call it from `spawn_blocking`.
    pub fn start(
        replication: Replication,
        durability: Durability,
    ) -> Result<LocalHaCluster, ThrowawayError> {
        let bin_dir =
            find_server_binaries().ok_or(ThrowawayError::BinariesNotFound(BINARIES_HINT))?;
        let etcd_binary = Path::new("/usr/bin/etcd");
        let patroni = Path::new("/usr/bin/patroni");
        if !etcd_binary.is_file() || !patroni.is_file() {
            return Err(ThrowawayError::BinariesNotFound(BINARIES_HINT));
        }
        let run_as = run_as(c"postgres", "Patroni")?;
        let mut etcd = Supervised::new_private("etcd", run_as, "counter-etcd", ETCD_STOP)?;
        let etcd_port = etcd::launch(&mut etcd, etcd_binary, run_as)?;
        let password = super::postgres::cluster::random_password()?;
        let replication_password = super::postgres::cluster::random_password()?;
        let scope = format!("counter-{}", std::process::id());
        let mut cluster = LocalHaCluster {
            nodes: Vec::new(),
            _etcd: etcd,
            password,
            replication,
            run_as,
        };
        for index in 0..2 {
            let prefix = format!("counter-patroni{index}");
            let patroni = Supervised::new_private("patroni", run_as, &prefix, PATRONI_STOP)?;
            let dir = patroni.dir().to_path_buf();
            let patroni = patroni.with_orphan_pid_file(dir.join("data/postmaster.pid"));
            let addr = NodeAddr::loopback(
                format!("node{index}"),
                supervise::free_port()?,
                supervise::free_port()?,
            );
            let yaml = patroni_yaml(&NodeConfig {
                scope: &scope,
                name: &addr.name,
                dir: &dir,
                pg_port: addr.pg_port,
                rest_port: addr.rest_port,
                etcd_port,
                bin_dir: &bin_dir,
                superuser_password: &cluster.password,
                replication_password: &replication_password,
                replication,
                fsync: durability == Durability::Durable,
            });
            let config = dir.join("patroni.yml");
            supervise::write_private(&config, &yaml, run_as)?;

            cluster.nodes.push(Node {
                addr,
                patroni,
                config,
            });
            cluster.launch(index)?;
            if index == 0 {
                cluster.wait(|c| c.primary() == Some(0), "a primary")?;
            }
        }
        cluster.wait_healthy()?;
        Ok(cluster)
    }

    /// The first node's directory (for messages).
    pub fn dir(&self) -> &Path {
        self.nodes[0].patroni.dir()
    }

    /// Where the nodes are, for connections that follow the primary.
    pub fn view(&self) -> Arc<HaView> {
        Arc::new(HaView {
            nodes: self.nodes.iter().map(|n| n.addr.clone()).collect(),
            description: self.describe(),
        })
    }

    /// Connection options for `database` on the current primary (node 0 when none is named).
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        self.node_options(self.primary().unwrap_or(0), database)
    }

    /// Connection options for `database` on node `index`.
    pub fn node_options(&self, index: usize, database: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .host("127.0.0.1")
            .port(self.nodes[index].addr.pg_port)
            .username("postgres")
            .password(&self.password)
            .database(database)
    }

    /// The superuser's password (for tests that build a URL; never print it).
    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn replication(&self) -> Replication {
        self.replication
    }

    /// "Patroni 2 nodes, async replication".
    pub fn describe(&self) -> String {
        format!(
            "Patroni and etcd, {} nodes, {} replication",
            self.nodes.len(),
            self.replication
        )
    }

    /// The node Patroni names primary.
    pub fn primary(&self) -> Option<usize> {
        self.nodes.iter().position(|node| {
            let answer = rest::get_blocking(&node.addr.rest_host, node.addr.rest_port, "/primary");
            answer.map(|(status, _)| status) == Some(200)
        })
    }

    /// The name of node `index`.
    pub fn node_name(&self, index: usize) -> &str {
        &self.nodes[index].addr.name
    }

    /// The timeline node `index` reports (`GET /patroni`).
    pub fn timeline(&self, index: usize) -> Option<u64> {
        let (_, body) = rest::get_blocking(
            &self.nodes[index].addr.rest_host,
            self.nodes[index].addr.rest_port,
            "/patroni",
        )?;
        let value: serde_json::Value = serde_json::from_str(&body).ok()?;
        value["timeline"].as_u64()
    }

    /// Injects `fault` into the current primary; returns the node hit.
    pub fn inject(&mut self, fault: Fault) -> Result<usize, ThrowawayError> {
        let victim = self
            .primary()
            .ok_or_else(|| not_healthy("no primary to fault"))?;
        let node = &mut self.nodes[victim];
        let postmaster = postmaster_pid(node.patroni.dir());
        let patroni = node.patroni.pid();
        if matches!(fault, Fault::NodeCrash | Fault::ManagerCrash)
            && let Some(pid) = patroni
        {
            signal(pid, libc::SIGKILL);
            node.patroni.forget_dead();
        }
        if matches!(fault, Fault::NodeCrash | Fault::PostmasterCrash)
            && let Some(pid) = postmaster
        {
            signal(pid, libc::SIGKILL);
        }
        Ok(victim)
    }

    /// Brings node `victim` back after a fault (its Patroni started again where it was
    /// killed: it rejoins as a standby, rewound if it must be) and waits until the cluster is
    /// healthy again.
    pub fn recover(&mut self, victim: usize) -> Result<(), ThrowawayError> {
        if self.nodes[victim].patroni.pid().is_none() {
            self.launch(victim)?;
        }
        self.wait_healthy()
    }

    /// Starts node `index`'s Patroni with the distribution's python3 (its modules are there).
    fn launch(&mut self, index: usize) -> Result<(), ThrowawayError> {
        let run_as = self.run_as;
        let node = &mut self.nodes[index];
        let log = node.patroni.dir().join("patroni.out");
        let out = fs::File::create(&log).map_err(io_err("could not create Patroni's log"))?;
        let _ = std::os::unix::fs::chown(&log, Some(run_as.uid), Some(run_as.gid));
        let mut patroni = command(Path::new("/usr/bin/python3"), run_as, node.patroni.dir());
        let err = out
            .try_clone()
            .map_err(io_err("could not create Patroni's log"))?;
        patroni
            .arg("/usr/bin/patroni")
            .arg(&node.config)
            .stdout(out)
            .stderr(err);
        let rest = node.addr.rest_port;
        let ready = move || rest::get_blocking("127.0.0.1", rest, "/health").is_some();
        node.patroni.launch(patroni, &log, ready)
    }

    /// Waits until there is a primary and every other node is a streaming standby (with
    /// `Sync`, the synchronous one).
    fn wait_healthy(&self) -> Result<(), ThrowawayError> {
        self.wait(LocalHaCluster::healthy, "a primary and a streaming standby")
    }

    fn healthy(&self) -> bool {
        let Some(primary) = self.primary() else {
            return false;
        };
        let Some((_, body)) = rest::get_blocking(
            &self.nodes[primary].addr.rest_host,
            self.nodes[primary].addr.rest_port,
            "/patroni",
        ) else {
            return false;
        };
        let names: Vec<&str> = self.nodes.iter().map(|n| n.addr.name.as_str()).collect();
        let sync = self.replication == Replication::Sync;
        let streaming = rest::streaming_standbys(&body, &names, sync);
        // In synchronous mode Patroni promotes only the standby its DCS names synchronous,
        // which can lag what the primary reports: a standby must also answer 200 on /sync
        // (without it, a crash right after a rejoin left the cluster without a primary).
        let named_sync = self.replication == Replication::Async
            || self.nodes.iter().enumerate().any(|(index, node)| {
                index != primary
                    && rest::get_blocking(&node.addr.rest_host, node.addr.rest_port, "/sync")
                        .map(|r| r.0)
                        == Some(200)
            });
        streaming + 1 >= self.nodes.len() && named_sync
    }

    fn wait(
        &self,
        done: impl Fn(&LocalHaCluster) -> bool,
        what: &str,
    ) -> Result<(), ThrowawayError> {
        let started = Instant::now();
        while !done(self) {
            if started.elapsed() > HEALTHY_DEADLINE {
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| {
                        let text = fs::read_to_string(n.patroni.dir().join("patroni.out"));
                        supervise::last_lines(&text.unwrap_or_default(), 5)
                    })
                    .collect();
                return Err(not_healthy(&format!(
                    "no {what} within {} s; Patroni said:\n{}",
                    HEALTHY_DEADLINE.as_secs(),
                    logs.join("\n")
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

fn not_healthy(message: &str) -> ThrowawayError {
    ThrowawayError::Setup {
        program: "patroni",
        tail: message.to_string(),
    }
}

/// The postmaster of a node, from its pid file.
fn postmaster_pid(dir: &Path) -> Option<u32> {
    let text = fs::read_to_string(dir.join("data/postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}
