//! What the nodes of a Galera cluster say about themselves: synced and three, the last write
//! set each has committed (a node applies another's commits after they are acknowledged, so a
//! read there can be stale until it catches up), and the counters that say why a transaction
//! failed (certification, brute-force abort, replay).

use std::ops::DerefMut;
use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions, Connection};

use crate::engines::shared::DbError;

/// How long the cluster may take to have every node synced after the last one started.
pub const SYNC_DEADLINE: Duration = Duration::from_secs(60);

/// Every statement of a session that says this first waits until its node has applied what
/// the cluster committed before it (1 reads, 2 updates and deletes, 4 inserts, 8 the rest).
pub const CAUSAL_READS: &str = "SET SESSION wsrep_sync_wait = 15";

/// One `wsrep_%` status variable of a node, as text ("" when the node does not have it).
pub async fn status(conn: &mut MySqlConnection, name: &str) -> Result<String, sqlx::Error> {
    let value: Option<String> = sqlx::query_scalar(
        "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = ?",
    )
    .bind(name.to_uppercase())
    .fetch_optional(conn)
    .await?;
    Ok(value.unwrap_or_default())
}

/// A status variable read as a number (-1 when it is not one).
pub async fn number(conn: &mut MySqlConnection, name: &str) -> Result<i64, sqlx::Error> {
    Ok(status(conn, name).await?.trim().parse().unwrap_or(-1))
}

/// Whether a node is a synced member of a cluster of `size`, and what it says otherwise.
async fn synced(
    conn: &mut MySqlConnection,
    size: usize,
) -> Result<Result<(), String>, sqlx::Error> {
    let state = status(conn, "wsrep_local_state_comment").await?;
    let members = number(conn, "wsrep_cluster_size").await?;
    let ready = status(conn, "wsrep_ready").await?;
    if state == "Synced" && members == size as i64 && ready == "ON" {
        return Ok(Ok(()));
    }
    Ok(Err(format!(
        "state {state:?}, cluster size {members}, ready {ready}"
    )))
}

/// Waits until every node at `nodes` is synced in a cluster of all of them, for at most
/// `deadline`; the error names the node that was not, and what it said.
pub async fn wait_synced(nodes: &[MySqlConnectOptions], deadline: Duration) -> Result<(), DbError> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let mut all = true;
        for (i, options) in nodes.iter().enumerate() {
            let seen = match options.connect().await {
                Ok(mut conn) => {
                    let seen = synced(&mut conn, nodes.len()).await;
                    let _ = conn.close().await;
                    seen.map_err(|err| err.to_string()).and_then(|seen| seen)
                }
                Err(err) => Err(err.to_string()),
            };
            if let Err(why) = seen {
                last = format!("node {}: {why}", i + 1);
                all = false;
                break;
            }
        }
        if all {
            return Ok(());
        }
        if started.elapsed() > deadline {
            return Err(DbError::Connect {
                url: "the Galera cluster".to_string(),
                reason: format!(
                    "not every node was synced within {}s ({last})",
                    deadline.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks that the servers behind `pools` (node 1 first) are nodes of one Galera cluster:
/// each says it is one (`wsrep_cluster_state_uuid`), the same one as node 1, and a synced
/// member. A standalone server in the list would make a "+" that no cluster earned.
pub async fn check_one_cluster(pools: &[sqlx::MySqlPool]) -> Result<(), DbError> {
    let mut first = None;
    for (i, pool) in pools.iter().enumerate() {
        let mut conn = pool.acquire().await?;
        let uuid = status(&mut conn, "wsrep_cluster_state_uuid").await?;
        let refuse = |why: String| DbError::Connect {
            url: format!("Galera node {}", i + 1),
            reason: why,
        };
        if uuid.is_empty() || uuid.starts_with("00000000-") {
            return Err(refuse(
                "it is not a Galera node (no cluster state: wsrep is off?)".into(),
            ));
        }
        match &first {
            None => first = Some(uuid),
            Some(first) if *first != uuid => {
                return Err(refuse(format!(
                    "it is in another Galera cluster ({uuid}) than node 1 ({first})"
                )));
            }
            Some(_) => {}
        }
        let state = status(&mut conn, "wsrep_local_state_comment").await?;
        if state != "Synced" {
            return Err(refuse(format!(
                "it is not a synced member (state {state:?})"
            )));
        }
    }
    Ok(())
}

/// What each node had done with write sets when asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// `wsrep_last_committed` per node: equal on every node once each applied every commit.
    pub last_committed: Vec<i64>,
    /// `wsrep_local_cert_failures` per node: local transactions that failed certification.
    pub cert_failures: Vec<i64>,
    /// `wsrep_local_bf_aborts` per node: local transactions aborted by a replicated one.
    pub bf_aborts: Vec<i64>,
    /// `wsrep_local_replays` per node: local transactions replayed after a brute-force abort.
    pub replays: Vec<i64>,
}

/// What changed between two readings of [`Counters`], node by node, in words; None when
/// nothing did.
pub fn what_changed(before: &Counters, now: &Counters) -> Option<String> {
    let mut said = Vec::new();
    for node in 0..now.cert_failures.len().min(before.cert_failures.len()) {
        let more = |of: &[i64], was: &[i64]| of[node] - was[node];
        let events = [
            (
                more(&now.cert_failures, &before.cert_failures),
                "a local commit failed certification against a write set certified first",
            ),
            (
                more(&now.bf_aborts, &before.bf_aborts),
                "the applier aborted a local transaction holding a lock its write set needed (brute-force abort)",
            ),
            (
                more(&now.replays, &before.replays),
                "a local transaction was replayed after a brute-force abort",
            ),
        ];
        for (count, what) in events {
            if count > 0 {
                let times = if count > 1 {
                    format!(" ({count} times)")
                } else {
                    String::new()
                };
                said.push(format!("node {}: {what}{times}", node + 1));
            }
        }
    }
    (!said.is_empty()).then(|| said.join("; "))
}

/// Reads [`Counters`] on every node through `conns` (one per node, in order).
pub async fn counters<C: DerefMut<Target = MySqlConnection>>(
    conns: &mut [C],
) -> Result<Counters, sqlx::Error> {
    let mut counters = Counters::default();
    for conn in conns.iter_mut() {
        counters
            .last_committed
            .push(number(conn, "wsrep_last_committed").await?);
        counters
            .cert_failures
            .push(number(conn, "wsrep_local_cert_failures").await?);
        counters
            .bf_aborts
            .push(number(conn, "wsrep_local_bf_aborts").await?);
        counters
            .replays
            .push(number(conn, "wsrep_local_replays").await?);
    }
    Ok(counters)
}

/// Waits until every node has committed the same last write set (each applied every commit
/// any made), for at most `patience`. Returns false when they still differ then: a node's
/// applier is stuck (behind a local table lock, as `LOCK TABLES` on two nodes does).
pub async fn wait_applied<C: DerefMut<Target = MySqlConnection>>(
    conns: &mut [C],
    patience: Duration,
) -> Result<bool, sqlx::Error> {
    let applied = settle(conns, patience, false).await?;
    Ok(applied == Applied::All)
}

/// How far the nodes got with the cluster's commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Every node applied every commit.
    All,
    /// A node behind waits with its applier for a lock a local session holds (a table lock):
    /// it goes on once that session lets go, as a session blocked on a single server does.
    ApplierWaits,
    /// A node stayed behind for the whole patience, its applier not seen waiting for a lock.
    Behind,
}

/// Waits until every node applied every commit, or (when `waits_count`) until each node
/// behind is seen with its applier waiting for a local lock; for at most `patience`.
pub async fn settle<C: DerefMut<Target = MySqlConnection>>(
    conns: &mut [C],
    patience: Duration,
    waits_count: bool,
) -> Result<Applied, sqlx::Error> {
    let started = Instant::now();
    loop {
        let mut seen = Vec::with_capacity(conns.len());
        for conn in conns.iter_mut() {
            seen.push(number(conn, "wsrep_last_committed").await?);
        }
        let newest = seen.iter().copied().max().unwrap_or(0);
        if seen.iter().all(|&n| n == newest) {
            return Ok(Applied::All);
        }
        if waits_count {
            let mut all_wait = true;
            for (conn, &n) in conns.iter_mut().zip(&seen) {
                all_wait &= n == newest || applier_in(conn, WAITING_FOR_TABLE_LOCK).await?;
            }
            if all_wait {
                return Ok(Applied::ApplierWaits);
            }
        }
        if started.elapsed() > patience {
            // A node whose applier is at work on rows is slow, not stuck: a delete of 3,500
            // rows of a table without a primary key (the ledger's) took 0.02 s on the node
            // that ran it and 6.2 s to apply on another, which looks up each row by a scan.
            let mut all_busy = started.elapsed() < BUSY_PATIENCE;
            for (conn, &n) in conns.iter_mut().zip(&seen) {
                all_busy = all_busy && (n == newest || applier_in(conn, APPLYING_ROWS).await?);
            }
            if !all_busy {
                return Ok(Applied::Behind);
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// How long a node behind may take while its applier is seen applying rows.
const BUSY_PATIENCE: Duration = Duration::from_secs(120);

/// A state of a node's applier that says it is at work on rows (`Write_rows_log_event::...`,
/// `Delete_rows_log_event::find_row()`, ...), rather than waiting for anything.
const APPLYING_ROWS: &str = r"%\_rows\_log\_event::%";

/// A state of a node's applier that says it waits for a lock a local session holds
/// (`LOCK TABLES`' metadata lock: a row lock it would take by aborting the holder instead).
const WAITING_FOR_TABLE_LOCK: &str = "Waiting for table metadata lock%";

/// Whether one of the node's appliers is in a state LIKE `state`.
async fn applier_in(conn: &mut MySqlConnection, state: &str) -> Result<bool, sqlx::Error> {
    let appliers: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE USER = 'system user' AND STATE LIKE ?",
    )
    .bind(state)
    .fetch_one(conn)
    .await?;
    Ok(appliers > 0)
}
