//! Is a MariaDB session blocked, and by whom. Row-lock waits are InnoDB's
//! (`information_schema.INNODB_TRX`, `INNODB_LOCK_WAITS`); table-lock (`LOCK TABLES`: a
//! metadata lock) and named-lock (`GET_LOCK`) waits are not InnoDB's and show only as the
//! session's state in the process list, without saying who holds the lock.
//!
//! InnoDB serves its lock tables from a cache that it fills again only when more than 0.1 s
//! passed since they were last *read* (`trx0i_s.cc`): asking every few milliseconds keeps
//! reading the same old answer (seen here: a wait never showed in 5 s of polling every 5 ms).
//! So the probe reads them at most every [`LAG`], as one snapshot of every transaction's state
//! and every lock wait, and trusts a snapshot only when it was taken after the schedule's last
//! change; until then a row-lock wait is [`Wait::Unsure`] and the explorer asks again.
//!
//! On a Galera cluster the probe has a connection to every node: a session's id says its node
//! ([`super::galera::node_of`]), each node's tables are read on that node, and before each
//! choice of a schedule it waits until every node has applied every commit
//! ([`BlockingProbe::settle_replicas`]): a conflict across nodes does not block, it is decided
//! when the write set is applied, so the next choice must come after that.

use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions, Connection};

use super::errors;
use super::galera::{APPLY_PATIENCE, NODE_ID_STRIDE, Recovery, node_of, nodes};
use crate::engines::blocking::{BlockingProbe, Wait};
use crate::model::DbFailure;

/// How long after a change InnoDB's lock tables can be trusted: its cache's 0.1 s, and a
/// margin.
pub const LAG: Duration = Duration::from_millis(120);

pub struct MariaProbe {
    /// One per node (one on a single server), the first node first.
    conns: Vec<MySqlConnection>,
    /// Where they go (to connect again after a node restarted).
    nodes: Vec<MySqlConnectOptions>,
    /// A throwaway cluster's: restarts a stalled node.
    recovery: Option<Recovery>,
    /// What the nodes had counted when last asked (a cluster's).
    counted: Option<nodes::Counters>,
    changed: Instant,
    /// When InnoDB's tables were last read, and what they said.
    snapshot: Option<Snapshot>,
    /// When they were last read (at first: when this probe connected, as another connection
    /// may have read them just before).
    last_read: Instant,
    /// Fresh snapshots in a row that showed a connection waiting without the lock wait
    /// behind it (the two tables are read one after the other).
    unexplained: u32,
}

/// InnoDB's lock tables as read at `taken`.
struct Snapshot {
    taken: Instant,
    /// The connections whose transaction waits for a lock.
    waiting: Vec<i64>,
    /// (waiting connection, connection holding the lock)
    waits_for: Vec<(i64, i64)>,
}

impl MariaProbe {
    /// Connects to every node at `nodes` (one on a single server).
    pub async fn connect(
        nodes: &[MySqlConnectOptions],
        recovery: Option<Recovery>,
    ) -> Result<MariaProbe, DbFailure> {
        let mut conns = Vec::with_capacity(nodes.len());
        for options in nodes {
            conns.push(options.connect().await.map_err(|e| errors::classify(&e))?);
        }
        Ok(MariaProbe {
            conns,
            nodes: nodes.to_vec(),
            recovery,
            counted: None,
            changed: Instant::now(),
            snapshot: None,
            last_read: Instant::now(),
            unexplained: 0,
        })
    }

    pub async fn close(self) {
        for conn in self.conns {
            let _ = conn.close().await;
        }
    }
}

impl MariaProbe {
    /// A snapshot taken after the last change: the one kept, or a new one when InnoDB's cache
    /// is due to be filled again (no read in the last [`LAG`], so that this one fills it);
    /// None when neither.
    async fn fresh_snapshot(&mut self) -> Result<Option<&Snapshot>, DbFailure> {
        let kept = self.snapshot.as_ref().map(|s| s.taken);
        if kept.is_some_and(|taken| taken > self.changed) {
            return Ok(self.snapshot.as_ref());
        }
        if self.last_read.elapsed() < LAG {
            return Ok(None);
        }
        let taken = Instant::now();
        self.last_read = taken;
        let (mut waiting, mut waits_for) = (Vec::new(), Vec::new());
        for (node, conn) in self.conns.iter_mut().enumerate() {
            let on_node = |id: i64| node as i64 * NODE_ID_STRIDE + id;
            let waiting_here: Vec<i64> = sqlx::query_scalar(
                "SELECT CAST(trx_mysql_thread_id AS SIGNED) FROM information_schema.INNODB_TRX \
                 WHERE trx_state = 'LOCK WAIT'",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| errors::classify(&e))?;
            let waits_here: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT CAST(r.trx_mysql_thread_id AS SIGNED), CAST(b.trx_mysql_thread_id AS SIGNED) \
                 FROM information_schema.INNODB_LOCK_WAITS w \
                 JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id \
                 JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| errors::classify(&e))?;
            waiting.extend(waiting_here.into_iter().map(on_node));
            waits_for.extend(
                waits_here
                    .into_iter()
                    .map(|(w, h)| (on_node(w), on_node(h))),
            );
        }
        self.snapshot = Some(Snapshot {
            taken,
            waiting,
            waits_for,
        });
        // Taken after the change only if it was: a change may have come in the meantime.
        Ok(self.snapshot.as_ref().filter(|s| s.taken > self.changed))
    }
}

impl BlockingProbe for MariaProbe {
    async fn waits(&mut self, who: i64, ours: &[i64]) -> Result<Wait, DbFailure> {
        // The process list is live: a table or named lock wait is certain when seen.
        let (node, connection) = node_of(who);
        let conn = self.conns.get_mut(node).ok_or_else(|| unknown_node(who))?;
        let state: Option<Option<String>> =
            sqlx::query_scalar("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = ?")
                .bind(connection)
                .fetch_optional(conn)
                .await
                .map_err(|e| errors::classify(&e))?;
        let Some(state) = state else {
            return Ok(Wait::Running);
        };
        let state = state.unwrap_or_default();
        let named = match state.as_str() {
            s if s.starts_with("Waiting for table") => Some("table lock (LOCK TABLES)"),
            "User lock" => Some("named lock (GET_LOCK)"),
            _ => None,
        };
        if let Some(lock) = named {
            return Ok(Wait::OnOurs {
                holders: Vec::new(),
                lock: lock.to_string(),
            });
        }
        let Some(snapshot) = self.fresh_snapshot().await? else {
            return Ok(Wait::Unsure);
        };
        if !snapshot.waiting.contains(&who) {
            self.unexplained = 0;
            return Ok(Wait::Running);
        }
        let blockers: Vec<i64> = snapshot
            .waits_for
            .iter()
            .filter(|(waiter, _)| *waiter == who)
            .map(|(_, holder)| *holder)
            .collect();
        let lock = "row lock".to_string();
        let holders: Vec<i64> = blockers
            .iter()
            .copied()
            .filter(|b| ours.contains(b))
            .collect();
        if blockers.is_empty() {
            // Read again once the cache is due; twice unexplained, the wait is certain but
            // its holder unknown.
            self.unexplained += 1;
            self.changed = Instant::now();
            if self.unexplained < 2 {
                return Ok(Wait::Unsure);
            }
        }
        self.unexplained = 0;
        match (holders.is_empty(), blockers.first()) {
            (true, Some(stranger)) => Ok(Wait::OnStranger {
                holder: format!("connection {stranger}"),
                lock,
            }),
            _ => Ok(Wait::OnOurs { holders, lock }),
        }
    }

    async fn cancel(&mut self, who: i64) -> Result<(), DbFailure> {
        let (node, connection) = node_of(who);
        let conn = self.conns.get_mut(node).ok_or_else(|| unknown_node(who))?;
        let kill = format!("KILL QUERY {connection}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(kill))
            .execute(conn)
            .await
            .map(drop)
            .map_err(|e| errors::classify(&e))
    }

    fn changed(&mut self) {
        self.changed = Instant::now();
    }

    fn lag(&self) -> Duration {
        LAG
    }

    async fn settle_replicas(&mut self, applier_may_wait: bool) -> Result<bool, DbFailure> {
        if self.conns.len() < 2 {
            return Ok(true);
        }
        let mut conns: Vec<&mut MySqlConnection> = self.conns.iter_mut().collect();
        let applied = nodes::settle(&mut conns, APPLY_PATIENCE, applier_may_wait).await;
        let applied = applied.map_err(|e| errors::classify(&e))?;
        Ok(applied != nodes::Applied::Behind)
    }

    async fn cluster_events(&mut self) -> Result<Option<String>, DbFailure> {
        if self.conns.len() < 2 {
            return Ok(None);
        }
        let mut conns: Vec<&mut MySqlConnection> = self.conns.iter_mut().collect();
        let now = nodes::counters(&mut conns).await;
        let now = now.map_err(|e| errors::classify(&e))?;
        let before = self.counted.replace(now.clone());
        Ok(before.and_then(|before| nodes::what_changed(&before, &now)))
    }

    async fn recover_replicas(&mut self) -> Result<String, DbFailure> {
        let Some(recovery) = self.recovery.clone() else {
            return Err(DbFailure::ours(
                crate::model::ErrorClass::Internal,
                "a cluster counter did not start is not restarted",
            ));
        };
        let mut conns: Vec<&mut MySqlConnection> = self.conns.iter_mut().collect();
        let done = recovery.restart_stalled(&mut conns).await?;
        // A restarted node counts from zero.
        self.counted = None;
        // A restarted node's connection is gone: every one is made again.
        for (conn, options) in self.conns.iter_mut().zip(&self.nodes) {
            *conn = options.connect().await.map_err(|e| errors::classify(&e))?;
        }
        Ok(done)
    }
}

/// A session id naming a node the probe has no connection to: a harness error.
fn unknown_node(who: i64) -> DbFailure {
    DbFailure::ours(
        crate::model::ErrorClass::Internal,
        format!("session {who} is on a node the probe does not know"),
    )
}
