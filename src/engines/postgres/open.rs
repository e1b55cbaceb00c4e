//! Opening a PostgreSQL database at the run's level: the connections, the migrations, and
//! what the database says about itself (its level read back, its version and settings, the
//! methods it can really run).

use std::sync::Arc;
use std::sync::atomic::AtomicU16;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::describe::{
    effective_isolation_queries, effective_level, first_answer, follow_primary, on_primary,
    server_version_queries, settings,
};
use super::script_role::{self, ScriptLogin};
use super::{Connections, PgDatabase, SIDE_POOL_SIZE, errors, pooled, probes, redact_url};
use crate::engines::options::OpenOptions;
use crate::engines::patroni::HaView;
use crate::engines::pooler::Pooler;
use crate::engines::shared::{ACQUIRE_TIMEOUT, DbError, migrator};
use crate::model::{Engine, Isolation, IsolationScope};

/// [`connect_as`] for PostgreSQL itself, at `isolation` for every statement.
pub async fn connect(
    options: &PgConnectOptions,
    isolation: Isolation,
    pool_size: u32,
) -> Result<PgDatabase, DbError> {
    connect_as(
        Engine::Postgres,
        options,
        None,
        None,
        None,
        &OpenOptions::new(isolation, pool_size),
    )
    .await
}

/// Opens the connections at the run's level: in the scope `session` as every connection's
/// `default_transaction_isolation` (so method 3's implicit transactions obey it too), in the
/// scope `transaction` only in `BEGIN ISOLATION LEVEL ...`. Applies the migrations, reads
/// back the level and the settings, and probes which methods the database can really run.
pub async fn connect_as(
    engine: Engine,
    options: &PgConnectOptions,
    pooler: Option<&Pooler>,
    follow: Option<&Arc<HaView>>,
    scripts: Option<&ScriptLogin>,
    open: &OpenOptions,
) -> Result<PgDatabase, DbError> {
    let mut route = pooled::route(options, pooler, open)?;
    route.follow = follow.cloned();
    let direct = pooled::with_level(options, open);
    let begin = begin_statement(open.scope, open.isolation);
    // With a replicated cluster the side pool follows the primary: a watcher points new
    // connections at it, and a connection that leads elsewhere is dropped when taken.
    let primary_port = Arc::new(AtomicU16::new(direct.get_port()));
    let mut side = PgPoolOptions::new()
        .max_connections(SIDE_POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT);
    if follow.is_some() {
        let port = Arc::clone(&primary_port);
        side = side.before_acquire(move |conn, _| {
            let port = Arc::clone(&port);
            Box::pin(async move { Ok(on_primary(conn, &port).await) })
        });
    }
    if follow.is_none() {
        // One connection first: a pool retries a refused connection until its acquire
        // timeout and then says only "pool timed out"; one attempt says why, at once.
        use sqlx::Connection;
        let first = sqlx::PgConnection::connect_with(&direct).await;
        let first = first.map_err(|err| connect_error(&direct, &err))?;
        let _ = first.close().await;
    }
    let pool = side
        .connect_with(direct.clone())
        .await
        .map_err(|err| connect_error(&direct, &err))?;
    migrator(engine).run(&pool).await?;
    let connections = Connections::routed(&route, open.pool_size, ACQUIRE_TIMEOUT);
    // The side pool follows the primary too, from a watcher that ends with the database.
    let watcher = follow.map(|view| follow_primary(&pool, &direct, view, primary_port));
    // The level is read where the increments run: through the pooler, if there is one.
    let shown = async {
        let mut lease = connections.acquire().await?;
        first_answer(&mut lease, begin, effective_isolation_queries(engine)).await
    };
    let shown = shown
        .await
        .map_err(|err| connect_error(&route.options, &err))?;
    connections
        .warm_up()
        .await
        .map_err(|err| connect_error(&route.options, &err))?;
    let mut conn = pool.acquire().await?;
    let server_version = first_answer(&mut conn, "BEGIN", server_version_queries(engine)).await?;
    drop(conn);
    // PostgreSQL has both guards in every supported release (advisory transaction locks since
    // 9.1); the engines that only speak its protocol are asked.
    let unsupported = match engine {
        Engine::Postgres => Vec::new(),
        _ => probes::probe(options).await?,
    };
    // A user's script runs on connections of its own: its role, through the relay. Through a
    // pooler or on a replicated cluster it shares the methods' connections (its transaction
    // state is then checked in its text only).
    let scripts = match (&open.script, pooler, follow) {
        (Some(_), None, None) => Some(script_role::connect(&direct, scripts, &pool, open).await?),
        _ => None,
    };
    let mut settings = settings(&pool).await;
    if let Some(pooler) = pooler {
        settings.insert("pooler".to_string(), pooler.description.clone());
    }
    if let Some(view) = follow {
        settings.insert("topology".to_string(), view.description.clone());
    }
    Ok(PgDatabase {
        connections,
        scripts,
        persistent: route.persistent,
        watcher,
        settings,
        pool,
        engine,
        isolation: open.isolation,
        scope: open.scope,
        begin,
        effective_isolation: effective_level(engine, &shown),
        server_version,
        unsupported,
    })
}

/// How the methods' transactions begin in `scope` at `level` (fixed text per level).
fn begin_statement(scope: IsolationScope, level: Isolation) -> &'static str {
    match (scope, level) {
        (IsolationScope::Session, _) => "BEGIN",
        (IsolationScope::Transaction, Isolation::ReadUncommitted) => {
            "BEGIN ISOLATION LEVEL READ UNCOMMITTED"
        }
        (IsolationScope::Transaction, Isolation::ReadCommitted) => {
            "BEGIN ISOLATION LEVEL READ COMMITTED"
        }
        (IsolationScope::Transaction, Isolation::RepeatableRead) => {
            "BEGIN ISOLATION LEVEL REPEATABLE READ"
        }
        (IsolationScope::Transaction, Isolation::Serializable) => {
            "BEGIN ISOLATION LEVEL SERIALIZABLE"
        }
    }
}

pub(super) fn connect_error(options: &PgConnectOptions, err: &sqlx::Error) -> DbError {
    DbError::Connect {
        url: redact_url(options),
        reason: errors::describe(err),
    }
}
