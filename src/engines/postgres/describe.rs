//! What a PostgreSQL-protocol database says about itself, asked when a server run connects:
//! the level its transactions really run at (read where the increments run, through a pooler
//! if there is one), its version, the settings that change outcomes; and, for a replicated
//! cluster, the watcher that keeps the side pool on the current primary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};

use crate::engines::patroni::HaView;
use crate::model::{Engine, Isolation};

/// Points `pool`'s new connections at the primary Patroni names, checking twice a second.
pub(super) fn follow_primary(
    pool: &PgPool,
    direct: &PgConnectOptions,
    view: &Arc<HaView>,
    primary_port: Arc<AtomicU16>,
) -> tokio::task::AbortHandle {
    let (pool, direct, view) = (pool.clone(), direct.clone(), Arc::clone(view));
    let task = tokio::spawn(async move {
        let mut current = (direct.get_host().to_string(), direct.get_port());
        loop {
            if let Some(primary) = view.primary().await
                && (primary.host.as_str(), primary.pg_port) != (current.0.as_str(), current.1)
            {
                current = (primary.host.clone(), primary.pg_port);
                primary_port.store(primary.pg_port, Ordering::Relaxed);
                pool.set_connect_options(direct.clone().host(&current.0).port(current.1));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    task.abort_handle()
}

/// Whether a pooled connection still leads to the primary on `primary_port`: connections
/// made before a failover (in a split brain, to a primary that still accepts writes) are
/// dropped instead of reused, so reads and resets see the current primary.
pub(super) async fn on_primary(conn: &mut PgConnection, primary_port: &AtomicU16) -> bool {
    let port: Result<Option<i32>, _> = sqlx::query_scalar("SELECT inet_server_port()")
        .persistent(false)
        .fetch_one(conn)
        .await;
    matches!(port, Ok(Some(port)) if i32::from(primary_port.load(Ordering::Relaxed)) == port)
}

/// The level transactions run at, from what the database showed. PostgreSQL accepts read
/// uncommitted and echoes it in `SHOW transaction_isolation`, but runs it as read committed
/// (its documentation says so): the truth is reported, not the echo.
pub(super) fn effective_level(engine: Engine, shown: &str) -> String {
    let shown = shown.trim().to_lowercase();
    if engine == Engine::Postgres && shown == Isolation::ReadUncommitted.sql_name() {
        return Isolation::ReadCommitted.sql_name().to_string();
    }
    shown
}

/// `fsync` and `synchronous_commit`, as the server runs them; a setting the engine does not
/// have (CockroachDB, YugabyteDB) is left out.
pub(super) async fn settings(pool: &PgPool) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    for (name, query) in [
        ("fsync", "SHOW fsync"),
        ("synchronous_commit", "SHOW synchronous_commit"),
    ] {
        if let Ok(value) = sqlx::query_scalar::<_, String>(query).fetch_one(pool).await {
            settings.insert(name.to_string(), value);
        }
    }
    settings
}

/// How to ask each engine which level its transactions really run at, best first.
/// YugabyteDB answers `SHOW transaction_isolation` with the level asked for even when it runs
/// read committed as snapshot (its `yb_enable_read_committed_isolation` flag is off).
pub(super) fn effective_isolation_queries(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Yugabyte => &[
            "SELECT yb_get_effective_transaction_isolation_level()",
            "SHOW yb_effective_transaction_isolation_level",
            "SHOW transaction_isolation",
        ],
        _ => &["SHOW transaction_isolation"],
    }
}

/// How to ask for the server's version: CockroachDB's `server_version` is the PostgreSQL
/// version it imitates, its own is in `version()`.
pub(super) fn server_version_queries(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Cockroach => &["SELECT split_part(version(), ' (', 1)"],
        _ => &["SHOW server_version"],
    }
}

/// The answer of the first query that works, each asked inside a transaction of its own,
/// begun with `begin` as the methods begin theirs (the level of a transaction, not of the
/// session, is what an engine may upgrade); the last query's error if none does.
pub(super) async fn first_answer(
    conn: &mut PgConnection,
    begin: &'static str,
    queries: &[&'static str],
) -> Result<String, sqlx::Error> {
    let mut last_error = None;
    for &query in queries {
        let mut tx = conn.begin_with(begin).await?;
        // Unnamed: the connection may lead through a transaction pooler.
        let answer = sqlx::query_scalar::<_, String>(query)
            .persistent(false)
            .fetch_one(&mut *tx)
            .await;
        tx.rollback().await?;
        match answer {
            Ok(answer) => return Ok(answer),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or(sqlx::Error::RowNotFound))
}
