//! The role a user's script runs as on PostgreSQL, and the connections it runs on.
//!
//! On the throwaway cluster counter makes a role of its own for scripts, `counter_script`:
//! it may log in to the `counter` database and read and write the counter's three tables,
//! nothing else. It is no superuser (so no `COPY ... TO PROGRAM`, no server files), it owns no
//! table (so no `DROP`, `ALTER`, `TRUNCATE`), it may create nothing (no `CREATE` on the schema,
//! no temporary tables), it may not run PL/pgSQL (`DO` blocks) and may not signal other
//! backends (`pg_terminate_backend`, `pg_cancel_backend` are revoked from PUBLIC in that
//! database). Whatever a script tries beyond that, the database refuses with its SQLSTATE
//! (42501), which the script's answer carries. On a configured database the role is the one
//! `--script-url` names, or the run's own; start-up says which, and warns when it is a
//! superuser.
//!
//! The script connections go through a relay that hears every `ReadyForQuery`
//! (`relay.rs`): how a script is checked at run time for a transaction it opened or ended.

use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{AssertSqlSafe, Executor};

use super::connections::Connections;
use super::relay::TxRelay;
use crate::engines::options::OpenOptions;
use crate::engines::shared::{ACQUIRE_TIMEOUT, DbError};

/// The role counter makes for scripts on its throwaway cluster.
pub const SCRIPT_ROLE: &str = "counter_script";

/// The account a user's script logs in with, when it is not the run's own.
#[derive(Debug, Clone)]
pub struct ScriptLogin {
    pub options: PgConnectOptions,
    /// Made by counter on its throwaway cluster: given the counter's tables once the
    /// migrations made them.
    pub made_here: bool,
}

/// Who scripts run as, as the database says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRole {
    pub name: String,
    pub superuser: bool,
}

/// The connections scripts run on.
#[derive(Debug, Clone)]
pub struct ScriptConnections {
    pub connections: Connections,
    pub role: ScriptRole,
    /// Kept alive with the connections (dropping it closes them).
    pub relay: Option<Arc<TxRelay>>,
}

/// Makes [`SCRIPT_ROLE`] on the throwaway cluster, as its superuser (`admin`, connected to the
/// `database` scripts will use); the role's login. Its password is random, made here, and
/// only hexadecimal digits (so it is safe in the statement's text).
pub async fn create(admin: &PgConnectOptions, database: &str) -> Result<ScriptLogin, DbError> {
    create_named(admin, database, SCRIPT_ROLE).await
}

/// [`create`] with the role named `role` (tests sharing one cluster make one each).
pub async fn create_named(
    admin: &PgConnectOptions,
    database: &str,
    role: &str,
) -> Result<ScriptLogin, DbError> {
    let password = crate::engines::postgres::cluster::random_password()?;
    let ours = |name: &str| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    assert!(
        ours(&password) && ours(database) && ours(role),
        "names of our own"
    );
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin.clone())
        .await?;
    let statements = [
        format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB \
             NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        ),
        format!("REVOKE ALL ON DATABASE \"{database}\" FROM PUBLIC"),
        format!("GRANT CONNECT ON DATABASE \"{database}\" TO {role}"),
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_string(),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        "REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC".to_string(),
        "REVOKE EXECUTE ON FUNCTION pg_terminate_backend(integer, bigint), \
         pg_cancel_backend(integer) FROM PUBLIC"
            .to_string(),
        // The schedule explorer sets it on every connection (PostgreSQL 15 lets it be granted).
        format!("GRANT SET ON PARAMETER deadlock_timeout TO {role}"),
    ];
    for sql in statements {
        // Names and a password of our own, checked above.
        pool.execute(AssertSqlSafe(sql)).await?;
    }
    pool.close().await;
    Ok(ScriptLogin {
        options: admin
            .clone()
            .username(role)
            .password(&password)
            .database(database),
        made_here: true,
    })
}

/// Gives a role counter made the counter's tables (after the migrations made them).
async fn grant_tables(side: &PgPool, role: &str) -> Result<(), DbError> {
    assert!(
        role.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "a role counter made"
    );
    side.execute(AssertSqlSafe(format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON counter, counter_shard, counter_ledger TO {role}"
    )))
    .await?;
    Ok(())
}

/// The connections a run's scripts use: as `login` (or the run's own account), at the run's
/// level, through a relay when the server is reached by TCP.
pub async fn connect(
    direct: &PgConnectOptions,
    login: Option<&ScriptLogin>,
    side: &PgPool,
    open: &OpenOptions,
) -> Result<ScriptConnections, DbError> {
    let options = login.map_or_else(|| direct.clone(), |login| login.options.clone());
    if let Some(login) = login.filter(|login| login.made_here) {
        grant_tables(side, login.options.get_username()).await?;
    }
    let leveled = super::pooled::with_level(&options, open);
    let relay = TxRelay::start(&leveled)
        .await
        .map_err(|err| DbError::Connect {
            url: super::redact_url(&leveled),
            reason: format!("could not start the relay for scripts: {err}"),
        })?;
    let (route, relay) = match relay.route(&leveled) {
        Some(route) => (route, Some(Arc::new(relay))),
        None => (leveled, None),
    };
    let mut connections = Connections::new(route, open.pool_size, ACQUIRE_TIMEOUT);
    if let Some(relay) = &relay {
        connections = connections.through_relay(Arc::clone(relay));
    }
    let role = {
        let mut lease = connections.acquire().await?;
        let (name, superuser): (String, bool) = sqlx::query_as(
            "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
        )
        .persistent(false)
        .fetch_one(&mut *lease)
        .await?;
        ScriptRole { name, superuser }
    };
    connections.warm_up().await?;
    Ok(ScriptConnections {
        connections,
        role,
        relay,
    })
}
