//! The methods on MariaDB (InnoDB). Every method can be expressed, some differently:
//! - table lock: `LOCK TABLES ... WRITE` commits any open transaction and only works with
//!   autocommit off, so it is `SET autocommit = 0`, `LOCK TABLES`, work, `COMMIT`,
//!   `UNLOCK TABLES` (the order MariaDB's manual prescribes).
//! - `UPDATE` has no `RETURNING`: the count written is read back with the
//!   `LAST_INSERT_ID(expr)` idiom, which is per connection.
//! - advisory lock: `GET_LOCK` is held by the session, not the transaction: taken before the
//!   transaction, released after it.

use sqlx::{Executor, MySqlConnection, MySqlPool};

use super::{MethodContext, MethodError, MethodId};
use crate::db::errors;

const SELECT: &str = "SELECT count FROM counter WHERE id = ?";
const SELECT_FOR_UPDATE: &str = "SELECT count FROM counter WHERE id = ? FOR UPDATE";
const INSERT: &str = "INSERT INTO counter (id, count) VALUES (?, 0)";
const WRITE: &str = "UPDATE counter SET count = ? WHERE id = ?";
const INCREMENT: &str = "UPDATE counter SET count = LAST_INSERT_ID(count + 1) WHERE id = ?";
const UPSERT: &str = "INSERT INTO counter (id, count) VALUES (?, 1) \
     ON DUPLICATE KEY UPDATE count = LAST_INSERT_ID(count + 1)";
const WRITTEN: &str = "SELECT LAST_INSERT_ID()";
const SWAP: &str = "UPDATE counter SET count = ? WHERE id = ? AND count = ?";
const GET_LOCK: &str = "SELECT GET_LOCK(CONCAT('counter:', ?), 10)";
const RELEASE_LOCK: &str = "SELECT RELEASE_LOCK(CONCAT('counter:', ?))";

/// How a method reads on MariaDB, where that differs from its PostgreSQL summary.
pub fn summary(method: MethodId) -> Option<&'static str> {
    match method {
        MethodId::TableLock => Some(
            "autocommit off, LOCK TABLES counter WRITE, get-or-create, read, write read+1, COMMIT, UNLOCK TABLES",
        ),
        MethodId::AdvisoryLock => {
            Some("GET_LOCK('counter:id') around a transaction: read, write read+1")
        }
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Read {
    Plain,
    ForUpdate,
}

/// One increment of `method`'s row on MariaDB, one attempt.
pub async fn increment(
    method: MethodId,
    ctx: &MethodContext<MySqlPool>,
) -> Result<i64, MethodError> {
    let id = method.row_id();
    let count = match method {
        MethodId::TableLock => table_lock(ctx, id).await?,
        MethodId::RowLock => read_then_write(ctx, id, Read::ForUpdate).await?,
        MethodId::ReadModifyWrite => read_then_write(ctx, id, Read::Plain).await?,
        MethodId::InProcessLock => {
            let _guard = ctx.local_lock.lock().await;
            read_then_write(ctx, id, Read::Plain).await?
        }
        MethodId::AdvisoryLock => advisory_lock(ctx, id).await?,
        MethodId::AtomicUpdate => {
            let mut conn = ctx.pool.acquire().await?;
            get_or_create(&mut conn, id, Read::Plain).await?;
            sqlx::query(INCREMENT).bind(id).execute(&mut *conn).await?;
            written(&mut conn).await?
        }
        MethodId::Upsert => {
            let mut conn = ctx.pool.acquire().await?;
            let done = sqlx::query(UPSERT).bind(id).execute(&mut *conn).await?;
            // 1 row affected: inserted with count 1; 2: updated, the new count is the id.
            if done.rows_affected() == 1 {
                1
            } else {
                written(&mut conn).await?
            }
        }
        MethodId::CompareAndSwap => return compare_and_swap(ctx, id).await,
    };
    Ok(count)
}

async fn written(conn: &mut MySqlConnection) -> Result<i64, sqlx::Error> {
    let value: u64 = sqlx::query_scalar(WRITTEN).fetch_one(conn).await?;
    Ok(i64::try_from(value).unwrap_or(i64::MAX))
}

async fn read_then_write(
    ctx: &MethodContext<MySqlPool>,
    id: i64,
    read: Read,
) -> Result<i64, sqlx::Error> {
    let mut conn = ctx.pool.acquire().await?;
    transaction_on(&mut conn, ctx, id, read).await
}

/// Read, pause, write read + 1, in one transaction on `conn`.
async fn transaction_on(
    conn: &mut MySqlConnection,
    ctx: &MethodContext<MySqlPool>,
    id: i64,
    read: Read,
) -> Result<i64, sqlx::Error> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    let count = get_or_create(&mut tx, id, read).await?;
    ctx.think().await;
    sqlx::query(WRITE)
        .bind(count + 1)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(count + 1)
}

async fn table_lock(ctx: &MethodContext<MySqlPool>, id: i64) -> Result<i64, sqlx::Error> {
    let mut conn = ctx.pool.acquire().await?;
    conn.execute(sqlx::raw_sql("SET autocommit = 0")).await?;
    let result = async {
        conn.execute(sqlx::raw_sql("LOCK TABLES counter WRITE"))
            .await?;
        let count = get_or_create(&mut conn, id, Read::Plain).await?;
        ctx.think().await;
        sqlx::query(WRITE)
            .bind(count + 1)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        conn.execute(sqlx::raw_sql("COMMIT")).await?;
        Ok(count + 1)
    }
    .await;
    // Whatever happened, the connection goes back to the pool unlocked and in autocommit.
    if result.is_err() {
        let _ = conn.execute(sqlx::raw_sql("ROLLBACK")).await;
    }
    let _ = conn.execute(sqlx::raw_sql("UNLOCK TABLES")).await;
    let _ = conn.execute(sqlx::raw_sql("SET autocommit = 1")).await;
    result
}

async fn advisory_lock(ctx: &MethodContext<MySqlPool>, id: i64) -> Result<i64, MethodError> {
    let mut conn = ctx.pool.acquire().await?;
    let got: Option<i64> = sqlx::query_scalar(GET_LOCK)
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    if got != Some(1) {
        return Err(MethodError::LockTimeout);
    }
    let result = transaction_on(&mut conn, ctx, id, Read::Plain).await;
    let _ = sqlx::query(RELEASE_LOCK).bind(id).execute(&mut *conn).await;
    Ok(result?)
}

/// Get-or-create: a failed INSERT (duplicate key) aborts only its statement in InnoDB.
async fn get_or_create(
    conn: &mut MySqlConnection,
    id: i64,
    read: Read,
) -> Result<i64, sqlx::Error> {
    if let Some(count) = select(conn, id, read).await? {
        return Ok(count);
    }
    match sqlx::query(INSERT).bind(id).execute(&mut *conn).await {
        Ok(_) => Ok(0),
        Err(err) if errors::sqlstate(&err).as_deref() == Some("ER_DUP_ENTRY") => {
            select(conn, id, read).await?.ok_or(err)
        }
        Err(err) => Err(err),
    }
}

async fn select(
    conn: &mut MySqlConnection,
    id: i64,
    read: Read,
) -> Result<Option<i64>, sqlx::Error> {
    let sql = match read {
        Read::Plain => SELECT,
        Read::ForUpdate => SELECT_FOR_UPDATE,
    };
    sqlx::query_scalar(sql).bind(id).fetch_optional(conn).await
}

async fn compare_and_swap(ctx: &MethodContext<MySqlPool>, id: i64) -> Result<i64, MethodError> {
    let mut conn = ctx.pool.acquire().await?;
    get_or_create(&mut conn, id, Read::Plain).await?;
    for _ in 0..super::compare_and_swap::MAX_TRIES {
        let old = select(&mut conn, id, Read::Plain).await?.unwrap_or(0);
        ctx.think().await;
        let swapped = sqlx::query(SWAP)
            .bind(old + 1)
            .bind(id)
            .bind(old)
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
