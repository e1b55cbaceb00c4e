//! MariaDB (InnoDB): the pool with the run's isolation level set on every connection, the
//! methods' statements (`session`), its error numbers (`errors`) and its throwaway server.

pub mod blocking;
pub mod errors;
pub mod galera;
mod open;
pub mod script_user;
pub mod server;
pub mod session;
mod url;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{Executor, MySqlPool};

use super::database::{Database, Facts, ScriptAccount};
use super::errors::ErrorTable;
use super::reads::ReadSql;
use super::shared::{DbError, settle};
use crate::model::{DbFailure, Engine, Isolation, MethodId};
use galera::NodePools;
pub use open::connect;
pub use server::{LocalMariaDb, find_binaries};
use session::MariaSession;
pub use url::{parse_url, redact};

/// Every counter, summed over the tables it may live in: its row, its slots, its ledger
/// entries (the built-in methods use one of them; a custom script may write to several).
macro_rules! counters {
    () => {
        "SELECT id, CAST(SUM(count) AS SIGNED) AS count FROM (SELECT id, count FROM counter \
     UNION ALL SELECT id, CAST(SUM(count) AS SIGNED) FROM counter_shard GROUP BY id \
     UNION ALL SELECT id, COUNT(*) FROM counter_ledger GROUP BY id) AS parts GROUP BY id"
    };
}

pub const READS: ReadSql = ReadSql {
    list: concat!(counters!(), " ORDER BY id"),
    get: concat!(
        "SELECT id, count FROM (",
        counters!(),
        ") AS counters WHERE id = ?"
    ),
    delete_one: [
        "DELETE FROM counter WHERE id = ? RETURNING id",
        "DELETE FROM counter_shard WHERE id = ? RETURNING id",
        "DELETE FROM counter_ledger WHERE id = ? RETURNING id",
    ],
};

/// A pool on MariaDB at one isolation level, and what the server says about it.
#[derive(Debug, Clone)]
pub struct MariaDatabase {
    pub pool: MySqlPool,
    pub isolation: Isolation,
    /// With the scope `transaction`, the statement that sets the level of the next
    /// transaction only (None: every connection's session level is the run's).
    pub next_transaction: Option<&'static str>,
    pub effective_isolation: String,
    pub version: String,
    pub pool_size: u32,
    /// The settings that change outcomes: `innodb_flush_log_at_trx_commit`,
    /// `innodb_snapshot_isolation`.
    pub settings: BTreeMap<String, String>,
    /// The pool users' scripts run on, with its account and whether it is a superuser.
    pub scripts: Option<(MySqlPool, (String, bool))>,
    /// How long method 6's `GET_LOCK` waits, in whole seconds.
    pub lock_wait_s: i64,
    /// On a Galera cluster: a pool on every node, where the increments run (`pool` is then
    /// the first node's, with causal reads, for the API's reads and resets).
    pub galera: Option<Arc<NodePools>>,
}

impl MariaDatabase {
    /// A session on a pooled connection, for one attempt of an increment; on a Galera
    /// cluster on the node its placement says (`instance`: a schedule's instance's own).
    pub async fn session_on(&self, instance: Option<usize>) -> Result<MariaSession, DbFailure> {
        let (pool, on_node) = match &self.galera {
            Some(nodes) => nodes.pick(instance),
            None => (&self.pool, galera::OnNode::SINGLE),
        };
        let conn = pool.acquire().await;
        let conn = conn.map_err(|err| errors::classify(&err).before_sending())?;
        Ok(MariaSession::new(
            conn,
            on_node,
            self.next_transaction,
            self.lock_wait_s,
        ))
    }

    pub async fn session(&self) -> Result<MariaSession, DbFailure> {
        self.session_on(None).await
    }

    /// A session for a user's script: on the scripts' pool (their account), its statements
    /// ended through the run's own pool at the deadline.
    pub async fn script_session(&self) -> Result<MariaSession, DbFailure> {
        let Some((scripts, _)) = &self.scripts else {
            return self.session().await;
        };
        let conn = scripts.acquire().await;
        let conn = conn.map_err(|err| errors::classify(&err).before_sending())?;
        let on_node = galera::OnNode::SINGLE;
        let session = MariaSession::new(conn, on_node, self.next_transaction, self.lock_wait_s);
        Ok(session.killed_through(self.pool.clone()))
    }

    /// Sessions sleeping inside an open InnoDB transaction after `patience`: MariaDB's "idle
    /// in transaction".
    /// On a Galera cluster, on every node.
    pub async fn settle_idle_in_transaction(&self, patience: Duration) -> Result<i64, DbFailure> {
        let pools = match &self.galera {
            Some(nodes) => nodes.all(),
            None => std::slice::from_ref(&self.pool),
        };
        let idle = settle(patience, || async {
            let mut idle = 0;
            for pool in pools {
                idle += idle_in_transaction(pool).await?;
            }
            Ok(idle)
        });
        idle.await.map_err(|e| errors::classify(&e))
    }

    /// The pools every node's storage is reached through (one without a cluster).
    fn node_pools(&self) -> &[MySqlPool] {
        match &self.galera {
            Some(nodes) => nodes.all(),
            None => std::slice::from_ref(&self.pool),
        }
    }
}

impl Database for MariaDatabase {
    fn key_statements(&self, method: MethodId) -> &'static [&'static str] {
        session::key_statements(method)
    }

    type Session = MariaSession;
    type Pooled = sqlx::MySql;
    type Probe = blocking::MariaProbe;
    const ERRORS: &'static ErrorTable = &errors::TABLE;
    const READS: &'static ReadSql = &READS;

    async fn session(&self) -> Result<MariaSession, DbFailure> {
        MariaDatabase::session(self).await
    }

    async fn session_for(&self, instance: usize) -> Result<MariaSession, DbFailure> {
        self.session_on(Some(instance)).await
    }

    /// A stalled node is restarted (see [`galera::Recovery`]): true once synced again.
    async fn settle_replicas(&self) -> Result<bool, DbFailure> {
        if let Some(nodes) = &self.galera {
            nodes.settle().await?;
        }
        Ok(true)
    }

    async fn script_session(&self) -> Result<MariaSession, DbFailure> {
        MariaDatabase::script_session(self).await
    }

    async fn probe(&self) -> Result<blocking::MariaProbe, DbFailure> {
        let nodes: Vec<_> = self
            .node_pools()
            .iter()
            .map(|pool| (*pool.connect_options()).clone())
            .collect();
        let recovery = self.galera.as_ref().map(|nodes| nodes.recovery.clone());
        blocking::MariaProbe::connect(&nodes, recovery).await
    }

    fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    fn free_connections(&self) -> (usize, u32) {
        super::shared::free_of(&self.pool, self.pool_size)
    }

    fn facts(&self) -> Facts {
        Facts {
            engine: Engine::Mariadb,
            effective_isolation: self.effective_isolation.clone(),
            server_version: self.version.clone(),
            pool_size: self.pool_size,
            settings: self.settings.clone(),
            scripts: self
                .scripts
                .as_ref()
                .map(|(_, (name, superuser))| ScriptAccount {
                    name: format!("account {name}"),
                    superuser: *superuser,
                }),
        }
    }

    async fn close(&self) {
        if let Some((scripts, _)) = &self.scripts {
            scripts.close().await;
        }
        if let Some(nodes) = &self.galera {
            nodes.close().await;
        }
        self.pool.close().await;
    }

    async fn settle_idle_in_transaction(&self, patience: Duration) -> Result<i64, DbFailure> {
        MariaDatabase::settle_idle_in_transaction(self, patience).await
    }

    /// `innodb_max_purge_lag_wait = 0` waits until InnoDB's history list is empty (MariaDB's
    /// own test suite settles purge this way); on a throwaway server it takes milliseconds.
    /// Bounded: another client's open snapshot holds purge back for as long as it lives, and
    /// the wait would last as long (tried: `max_statement_time` ends it quietly, so the history
    /// is asked afterwards). It needs SUPER: a `--database-url` account may lack it (1227).
    async fn forget_deleted(&self) -> Result<bool, DbFailure> {
        // On a cluster every node purges its own history, once it has applied the delete.
        self.settle_replicas().await?;
        // At once on every node: a node's purge answers in steps of 0.1 s (seen: 0.1 s each on
        // a cluster's nodes, 0.3 s a reset one after the other).
        let mut purges = tokio::task::JoinSet::new();
        for pool in self.node_pools() {
            let pool = pool.clone();
            purges.spawn(async move { forget_deleted_on(&pool).await });
        }
        let mut purged = true;
        while let Some(done) = purges.join_next().await {
            let done = done.map_err(|err| {
                DbFailure::ours(crate::model::ErrorClass::Internal, err.to_string())
            })?;
            purged &= done?;
        }
        Ok(purged)
    }

    /// `LOCK TABLES` on several nodes of a Galera cluster at once wedged the whole cluster
    /// (seen: a matrix run of 100 requests left a COMMIT "Waiting for certification" on every
    /// node and each node's applier "Waiting to execute in isolation" for twelve minutes);
    /// its schedules show the stall one schedule at a time, with the node restarted.
    fn race_gap(&self, method: MethodId) -> Option<String> {
        let spread = self.galera.as_ref()?.placement == crate::model::Placement::Spread;
        (spread && method == MethodId::TableLock).then(|| {
            "LOCK TABLES on several nodes at once stalls the Galera cluster (no lock reaches \
             across nodes; a node's applier waits behind a local table lock while that lock's \
             commit waits behind the applier): not raced; its schedules show the stall \
             (counter schedules --topology galera --methods 1)"
                .to_string()
        })
    }

    fn summary(&self, method: MethodId) -> &'static str {
        match method {
            MethodId::TableLock => session::TABLE_LOCK_SUMMARY,
            MethodId::AdvisoryLock => session::ADVISORY_LOCK_SUMMARY,
            _ => crate::methods::summary(method),
        }
    }
}

/// See [`Database::forget_deleted`]: `innodb_max_purge_lag_wait = 0` on the server of `pool`.
async fn forget_deleted_on(pool: &MySqlPool) -> Result<bool, DbFailure> {
    let waited = sqlx::query(
        "SET STATEMENT max_statement_time = 2 FOR SET GLOBAL innodb_max_purge_lag_wait = 0",
    )
    .execute(pool)
    .await;
    match waited {
        Ok(_) => {}
        Err(sqlx::Error::Database(err)) if errors::number_of(err.as_ref()) == Some(1227) => {
            return Ok(false);
        }
        Err(err) => return Err(errors::classify(&err)),
    }
    let history: (String, String) =
        sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
            .fetch_one(pool)
            .await
            .map_err(|err| errors::classify(&err))?;
    Ok(history.1 == "0")
}

/// Sessions on this database sleeping inside an open InnoDB transaction, other than the
/// asking one. After a run there must be none. InnoDB refreshes these tables at most every
/// 100 ms, so ask through [`super::shared::settle`].
pub async fn idle_in_transaction(pool: &MySqlPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.INNODB_TRX t \
         JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
         WHERE p.COMMAND = 'Sleep' AND p.ID <> CONNECTION_ID() AND p.DB = DATABASE()",
    )
    .fetch_one(pool)
    .await
}

/// Creates the `counter` database on a fresh throwaway server, whose root account `server`
/// logs in as.
pub async fn create_database(server: &sqlx::mysql::MySqlConnectOptions) -> Result<(), DbError> {
    use sqlx::ConnectOptions;
    let admin = server.clone().database("mysql");
    let mut conn = admin.connect().await?;
    conn.execute("CREATE DATABASE counter").await?;
    Ok(())
}
