//! What a PostgreSQL-protocol database really does with the guard statements some methods
//! rely on, asked of the database itself.
//!
//! CockroachDB and YugabyteDB speak PostgreSQL's protocol but not all of its SQL: CockroachDB
//! has no `LOCK TABLE` (a syntax error) and, before its transaction-level advisory locks
//! (2026), advisory-lock functions that are no-op stubs which always "succeed"; YugabyteDB
//! before 2.25 refuses every `LOCK TABLE` mode but ACCESS SHARE and has no advisory locks.
//! Versions and flags move these lines, so instead of a version table we probe: a method whose
//! guard the database refuses, or grants without excluding a second session, is reported n/a
//! with the database's own words, and never run as if it locked.
//!
//! The probes run when a CockroachDB or YugabyteDB server connects (PostgreSQL has both
//! guards in every supported release), on connections of their own, so a pool of one
//! connection is enough for the server. The tests run them against PostgreSQL.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::errors;
use super::session::{LOCK_KEY, LOCK_TABLE};
use crate::model::MethodId;

/// A method this database cannot run as written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub method: MethodId,
    pub reason: String,
}

/// SQLSTATEs that mean "no such statement or function here": feature_not_supported,
/// syntax_error (CockroachDB's answer to `LOCK`), undefined_function.
const NOT_HERE: [&str; 3] = ["0A000", "42601", "42883"];

/// Method 1's guard, exactly as the method runs it.
pub const TABLE_LOCK: &str = LOCK_TABLE;
/// Method 6's guard, exactly as the method runs it.
pub const ADVISORY_LOCK: &str = LOCK_KEY;
/// Whether a second session could take the same advisory lock right now.
pub const ADVISORY_TRY: &str = "SELECT pg_try_advisory_xact_lock($1)";

/// The advisory-lock key the probe uses: far from the method row ids that method 6 locks.
const PROBE_KEY: i64 = 0x0063_6f75_6e74_6572; // "counter" in ASCII

/// The methods whose guard this database refuses or does not enforce.
pub async fn probe(options: &PgConnectOptions) -> Result<Vec<Unsupported>, sqlx::Error> {
    let mut gaps = Vec::new();
    if let Some(reason) = refused(options, TABLE_LOCK).await? {
        gaps.push(Unsupported {
            method: MethodId::TableLock,
            reason,
        });
    }
    if let Some(reason) = does_not_exclude(options, ADVISORY_LOCK, ADVISORY_TRY).await? {
        gaps.push(Unsupported {
            method: MethodId::AdvisoryLock,
            reason,
        });
    }
    Ok(gaps)
}

/// Runs `statement` in a transaction that is then rolled back. `Some(reason)` when the database
/// says it has no such statement; other errors are errors.
pub async fn refused(
    options: &PgConnectOptions,
    statement: &'static str,
) -> Result<Option<String>, sqlx::Error> {
    let mut conn = options.connect().await?;
    let mut tx = conn.begin().await?;
    // Sent as a simple query, as method 1 sends it.
    let result = sqlx::raw_sql(statement).execute(&mut *tx).await;
    tx.rollback().await?;
    conn.close().await?;
    match result {
        Ok(_) => Ok(None),
        Err(err) if is_not_here(&err) => Ok(Some(refusal(statement, &err))),
        Err(err) => Err(err),
    }
}

/// Takes `lock` (bound to a key) in one session's open transaction and asks `try_lock` from a
/// second session whether the same key is free. `Some(reason)` when either statement does not
/// exist here, or when the second session gets the lock too: then `lock` excludes no one.
pub async fn does_not_exclude(
    options: &PgConnectOptions,
    lock: &'static str,
    try_lock: &'static str,
) -> Result<Option<String>, sqlx::Error> {
    let mut holder = options.connect().await?;
    let mut other = options.connect().await?;
    let mut tx = holder.begin().await?;
    let verdict = match sqlx::query(lock).bind(PROBE_KEY).execute(&mut *tx).await {
        Err(err) if is_not_here(&err) => Some(refusal(lock, &err)),
        Err(err) => return Err(err),
        Ok(_) => match sqlx::query_scalar::<_, bool>(try_lock)
            .bind(PROBE_KEY)
            .fetch_one(&mut other)
            .await
        {
            Ok(false) => None,
            Ok(true) => Some(format!(
                "`{lock}` returns without excluding anyone here (a second session's \
                 `{try_lock}` was granted while it was held): the lock is a no-op stub"
            )),
            Err(err) if is_not_here(&err) => Some(format!(
                "`{lock}` cannot be shown to exclude anyone here: {}",
                errors::describe(&err)
            )),
            Err(err) => return Err(err),
        },
    };
    tx.rollback().await?;
    holder.close().await?;
    other.close().await?;
    Ok(verdict)
}

fn is_not_here(err: &sqlx::Error) -> bool {
    errors::classify(err)
        .code()
        .is_some_and(|code| NOT_HERE.contains(&code))
}

fn refusal(statement: &str, err: &sqlx::Error) -> String {
    format!(
        "the database refuses `{statement}`: {}",
        errors::describe(err)
    )
}
