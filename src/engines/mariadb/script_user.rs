//! The account a user's script runs as on MariaDB. On the throwaway server counter makes
//! `counter_script`@`localhost`: it may read and write the counter's three tables and nothing
//! else (no `FILE`, so no `SELECT ... INTO OUTFILE`; no `PROCESS` or `SUPER`, so it sees and
//! ends only its own threads, and `KILL` is refused in a script's text besides; no DDL). What
//! a script tries beyond that, MariaDB refuses with its error number, which the answer carries.

use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::{AssertSqlSafe, ConnectOptions, Executor};

use crate::engines::shared::DbError;

/// The user counter makes for scripts on its throwaway server.
pub const SCRIPT_USER: &str = "counter_script";

/// The account a user's script logs in with, when it is not the run's own.
#[derive(Debug, Clone)]
pub struct ScriptLogin {
    pub options: MySqlConnectOptions,
    /// Made by counter on its throwaway server: given the counter's tables once the
    /// migrations made them.
    pub made_here: bool,
}

/// Makes [`SCRIPT_USER`] on the throwaway server whose root account `server` logs in as; its
/// login (through the same socket).
pub async fn create(server: &MySqlConnectOptions) -> Result<ScriptLogin, DbError> {
    let password = crate::engines::postgres::cluster::random_password()?;
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    let admin = server.clone().database("mysql");
    let mut conn = admin.connect().await?;
    // A password of our own, checked above.
    let create = format!("CREATE USER '{SCRIPT_USER}'@'localhost' IDENTIFIED BY '{password}'");
    conn.execute(AssertSqlSafe(create)).await?;
    Ok(ScriptLogin {
        options: server.clone().username(SCRIPT_USER).password(&password),
        made_here: true,
    })
}

/// Gives the user counter made the counter's tables (after the migrations made them).
pub async fn grant_tables(pool: &MySqlPool, login: &ScriptLogin) -> Result<(), DbError> {
    if !login.made_here {
        return Ok(());
    }
    for table in ["counter", "counter_shard", "counter_ledger"] {
        let grant = format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO '{SCRIPT_USER}'@'localhost'"
        );
        pool.execute(AssertSqlSafe(grant)).await?;
    }
    Ok(())
}

/// Who scripts run as, as the server says: the account, and whether it holds `SUPER` (or
/// every privilege).
pub async fn describe(pool: &MySqlPool) -> Result<(String, bool), DbError> {
    let user: String = sqlx::query_scalar("SELECT CURRENT_USER()")
        .fetch_one(pool)
        .await?;
    let grants: Vec<String> = sqlx::query_scalar("SHOW GRANTS").fetch_all(pool).await?;
    let superuser = grants.iter().any(|grant| {
        let grant = grant.to_uppercase();
        grant.contains("ALL PRIVILEGES ON *.*") || grant.contains(" SUPER")
    });
    Ok((user, superuser))
}
