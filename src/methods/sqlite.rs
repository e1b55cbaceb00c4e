//! The methods on SQLite. SQLite has one writer at a time and no row or advisory locks, so two
//! methods cannot be expressed (reported n/a with the reason, never approximated); the others
//! keep their meaning. SQL differs from PostgreSQL's only in its `?N` parameters.

use sqlx::{SqliteConnection, SqlitePool};

use super::{MethodContext, MethodError, MethodId};
use crate::db::errors;

const SELECT: &str = "SELECT count FROM counter WHERE id = ?1";
const INSERT: &str = "INSERT INTO counter (id, count) VALUES (?1, 0)";
const WRITE: &str = "UPDATE counter SET count = ?2 WHERE id = ?1";
const INCREMENT: &str = "UPDATE counter SET count = count + 1 WHERE id = ?1 RETURNING count";
const UPSERT: &str = "INSERT INTO counter (id, count) VALUES (?1, 1) \
     ON CONFLICT (id) DO UPDATE SET count = count + 1 RETURNING count";
const SWAP: &str = "UPDATE counter SET count = ?3 WHERE id = ?1 AND count = ?2";

/// `BEGIN IMMEDIATE` takes the database's write lock before anything is read: SQLite's table
/// lock. A plain (deferred) `BEGIN` reads first and must upgrade to a writer later.
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";
const BEGIN_DEFERRED: &str = "BEGIN";

/// Why SQLite cannot run a method, if it cannot.
pub fn not_applicable(method: MethodId) -> Option<&'static str> {
    match method {
        MethodId::RowLock => Some("SQLite has no row locks: SELECT ... FOR UPDATE does not exist"),
        MethodId::AdvisoryLock => Some("SQLite has no advisory locks"),
        _ => None,
    }
}

/// How a method reads on SQLite, where that differs from its PostgreSQL summary.
pub fn summary(method: MethodId) -> Option<&'static str> {
    match method {
        MethodId::TableLock => Some(
            "BEGIN IMMEDIATE (SQLite's database write lock) first, then get-or-create, read, write read+1",
        ),
        _ => None,
    }
}

/// One increment of `method`'s row on SQLite, one attempt.
pub async fn increment(
    method: MethodId,
    ctx: &MethodContext<SqlitePool>,
) -> Result<i64, MethodError> {
    if let Some(reason) = not_applicable(method) {
        return Err(MethodError::NotApplicable(reason.to_string()));
    }
    let id = method.row_id();
    let count = match method {
        MethodId::TableLock => read_then_write(ctx, id, BEGIN_IMMEDIATE).await?,
        MethodId::ReadModifyWrite => read_then_write(ctx, id, BEGIN_DEFERRED).await?,
        MethodId::InProcessLock => {
            let _guard = ctx.local_lock.lock().await;
            read_then_write(ctx, id, BEGIN_DEFERRED).await?
        }
        MethodId::AtomicUpdate => {
            let mut conn = ctx.pool.acquire().await?;
            get_or_create(&mut conn, id).await?;
            sqlx::query_scalar(INCREMENT)
                .bind(id)
                .fetch_one(&mut *conn)
                .await?
        }
        MethodId::Upsert => {
            sqlx::query_scalar(UPSERT)
                .bind(id)
                .fetch_one(&ctx.pool)
                .await?
        }
        MethodId::CompareAndSwap => return compare_and_swap(ctx, id).await,
        MethodId::RowLock | MethodId::AdvisoryLock => unreachable!("n/a methods returned above"),
    };
    Ok(count)
}

async fn read_then_write(
    ctx: &MethodContext<SqlitePool>,
    id: i64,
    begin: &'static str,
) -> Result<i64, sqlx::Error> {
    let mut tx = ctx.pool.begin_with(begin).await?;
    let count = get_or_create(&mut tx, id).await?;
    ctx.think().await;
    let written = count + 1;
    sqlx::query(WRITE)
        .bind(id)
        .bind(written)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(written)
}

/// Get-or-create: a failed INSERT aborts only its own statement in SQLite, so no savepoint is
/// needed around it.
async fn get_or_create(conn: &mut SqliteConnection, id: i64) -> Result<i64, sqlx::Error> {
    if let Some(count) = select(conn, id).await? {
        return Ok(count);
    }
    match sqlx::query(INSERT).bind(id).execute(&mut *conn).await {
        Ok(_) => Ok(0),
        Err(err) if errors::sqlstate(&err).is_some_and(|c| c.starts_with("SQLITE_CONSTRAINT")) => {
            select(conn, id).await?.ok_or(err)
        }
        Err(err) => Err(err),
    }
}

async fn select(conn: &mut SqliteConnection, id: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(SELECT)
        .bind(id)
        .fetch_optional(conn)
        .await
}

async fn compare_and_swap(ctx: &MethodContext<SqlitePool>, id: i64) -> Result<i64, MethodError> {
    let mut conn = ctx.pool.acquire().await?;
    get_or_create(&mut conn, id).await?;
    for _ in 0..super::compare_and_swap::MAX_TRIES {
        let old: i64 = select(&mut conn, id).await?.unwrap_or(0);
        ctx.think().await;
        let swapped = sqlx::query(SWAP)
            .bind(id)
            .bind(old)
            .bind(old + 1)
            .execute(&mut *conn)
            .await?;
        if swapped.rows_affected() == 1 {
            return Ok(old + 1);
        }
    }
    Err(MethodError::CasExhausted(
        super::compare_and_swap::MAX_TRIES,
    ))
}
