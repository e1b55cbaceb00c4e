//! Opening a MariaDB database at the run's level: the pools (the increments' and the
//! scripts'), each connection's session settings, the migrations, and what the server says
//! about its level, version and settings.

use std::collections::BTreeMap;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{Executor, MySqlPool};

use std::sync::Arc;

use super::galera::nodes::CAUSAL_READS;
use super::galera::{GALERA_SETTINGS, NodePools, Nodes};
use super::script_user::{self, ScriptLogin};
use super::{MariaDatabase, session};
use crate::engines::options::{EngineOption, OpenOptions};
use crate::engines::shared::{ACQUIRE_TIMEOUT, DbError, migrator};
use crate::model::{Engine, Isolation, IsolationScope};

/// A pool whose every connection first runs `on_connect` (the level, the limits, the engine
/// options).
async fn open_pool(
    options: &MySqlConnectOptions,
    on_connect: Vec<String>,
    size: u32,
) -> Result<MySqlPool, sqlx::Error> {
    MySqlPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _meta| {
            let statements = on_connect.clone();
            Box::pin(async move {
                for sql in statements {
                    // Fixed statements, and limits that are numbers of ours.
                    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)))
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await
}

/// The statement that sets a connection's level (fixed text per level).
fn set_session_level(level: Isolation) -> &'static str {
    match level {
        Isolation::ReadUncommitted => "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
        Isolation::ReadCommitted => "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        Isolation::RepeatableRead => "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        Isolation::Serializable => "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    }
}

/// The statement that sets the level of the next transaction only.
fn set_next_level(level: Isolation) -> &'static str {
    match level {
        Isolation::ReadUncommitted => "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
        Isolation::ReadCommitted => "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
        Isolation::RepeatableRead => "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        Isolation::Serializable => "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    }
}

/// The statement that applies an engine option to a session (the server's, for a variable
/// that has no session value; the numbers are ours, checked when parsed).
fn set_option(option: EngineOption) -> String {
    let on = |flag: bool| if flag { "ON" } else { "OFF" };
    match option {
        EngineOption::InnodbSnapshotIsolation(flag) => {
            format!("SET SESSION innodb_snapshot_isolation = {}", on(flag))
        }
        EngineOption::InnodbFlushLogAtTrxCommit(n) => {
            format!("SET GLOBAL innodb_flush_log_at_trx_commit = {n}")
        }
        EngineOption::WsrepRetryAutocommit(n) => {
            format!("SET SESSION wsrep_retry_autocommit = {n}")
        }
        EngineOption::WsrepSyncWait(n) => format!("SET SESSION wsrep_sync_wait = {n}"),
        EngineOption::WsrepConvertLockToTrx(flag) => {
            format!("SET GLOBAL wsrep_convert_LOCK_to_trx = {}", on(flag))
        }
    }
}

/// Opens the pool: every connection gets the run's level (scope `session`) and the engine
/// options; migrations; what the server says about its level, version and settings.
///
/// On a Galera cluster (`galera`) the increments get a pool on every node, and the run's own
/// pool (the migrations, the API's reads and resets) is on the first node with causal reads
/// (`wsrep_sync_wait`): a count read there waits until the node has applied every commit the
/// cluster made before the read, wherever it was made.
pub async fn connect(
    options: &MySqlConnectOptions,
    scripts: Option<&ScriptLogin>,
    galera: Option<&Arc<Nodes>>,
    open: &OpenOptions,
) -> Result<MariaDatabase, DbError> {
    let mut on_connect: Vec<String> = open
        .engine_options
        .iter()
        .filter(|option| option.engine() == Engine::Mariadb)
        .map(|&option| set_option(option))
        .collect();
    if let Some(limit) = open.statement_timeout {
        // Seconds, with decimals; the number is ours.
        let seconds = limit.as_secs_f64();
        on_connect.push(format!("SET SESSION max_statement_time = {seconds}"));
    }
    if let Some(waits) = open.waits {
        // Whole seconds (the variables' unit), at least one; the number is ours.
        let seconds = waits.lock_timeout.as_secs_f64().ceil().max(1.0) as u64;
        on_connect.push(format!(
            "SET SESSION innodb_lock_wait_timeout = {seconds}, lock_wait_timeout = {seconds}"
        ));
    }
    let next_transaction = match open.scope {
        IsolationScope::Session => {
            on_connect.push(set_session_level(open.isolation).to_string());
            None
        }
        IsolationScope::Transaction => Some(set_next_level(open.isolation)),
    };
    let (pool, galera) = match galera {
        None => (
            open_pool(options, on_connect.clone(), open.pool_size).await?,
            None,
        ),
        Some(nodes) => {
            let mut causal = on_connect.clone();
            causal.push(CAUSAL_READS.to_string());
            let pool = open_pool(options, causal, open.pool_size).await?;
            let mut pools = Vec::new();
            for node in &nodes.options {
                pools.push(open_pool(node, on_connect.clone(), open.pool_size).await?);
            }
            super::galera::nodes::check_one_cluster(&pools).await?;
            let recovery = nodes.recovery.clone();
            (
                pool,
                Some(Arc::new(NodePools::new(pools, nodes.placement, recovery))),
            )
        }
    };
    migrator(Engine::Mariadb).run(&pool).await?;
    if let Some(nodes) = &galera {
        // The tables exist on every node before an increment runs on one.
        nodes.settle().await?;
    }
    // A user's script runs on connections of its own, as its account.
    let scripts = match (&open.script, scripts) {
        (Some(_), login) => {
            if let Some(login) = login {
                script_user::grant_tables(&pool, login).await?;
            }
            let login = login.map_or(options, |login| &login.options);
            let scripts = open_pool(login, on_connect, open.pool_size).await?;
            let account = script_user::describe(&scripts).await?;
            Some((scripts, account))
        }
        (None, _) => None,
    };
    // InnoDB runs every level as named; with the scope `transaction` the session's own level
    // is the server default, and the methods' transactions run at the requested one.
    let effective = match next_transaction {
        Some(_) => open.isolation.sql_name().to_string(),
        None => {
            let shown: String = sqlx::query_scalar("SELECT @@tx_isolation")
                .fetch_one(&pool)
                .await?;
            // "REPEATABLE-READ" -> "repeatable read", to compare with the requested level.
            shown.to_lowercase().replace('-', " ")
        }
    };
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&pool)
        .await?;
    // The lock timeout in whole seconds, at least one, as InnoDB's own.
    let lock_wait_s = open.waits.map_or(session::DEFAULT_LOCK_WAIT_S, |waits| {
        waits.lock_timeout.as_secs_f64().ceil().max(1.0) as i64
    });
    Ok(MariaDatabase {
        lock_wait_s,
        scripts,
        settings: settings(
            galera.as_ref().map_or(&pool, |nodes| nodes.first()),
            galera.as_deref(),
        )
        .await,
        pool,
        galera,
        isolation: open.isolation,
        next_transaction,
        effective_isolation: effective,
        version,
        pool_size: open.pool_size,
    })
}

/// How InnoDB flushes its log at commit, and whether a repeatable read write of a row changed
/// since the snapshot is refused; on a Galera cluster (`galera`), also the settings that
/// change its verdicts. A variable the server does not have is left out.
async fn settings(pool: &MySqlPool, galera: Option<&NodePools>) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    let cluster: &[(&str, &str)] = match galera {
        Some(nodes) => {
            settings.insert("galera_nodes".to_string(), nodes.len().to_string());
            settings.insert(
                "galera_placement".to_string(),
                nodes.placement.name().to_string(),
            );
            &GALERA_SETTINGS
        }
        None => &[],
    };
    for &(name, query) in [
        (
            "innodb_flush_log_at_trx_commit",
            "SELECT CAST(@@innodb_flush_log_at_trx_commit AS CHAR)",
        ),
        (
            "innodb_snapshot_isolation",
            "SELECT IF(@@innodb_snapshot_isolation, 'on', 'off')",
        ),
    ]
    .iter()
    .chain(cluster)
    {
        if let Ok(value) = sqlx::query_scalar::<_, String>(query).fetch_one(pool).await {
            settings.insert(name.to_string(), value);
        }
    }
    settings
}
