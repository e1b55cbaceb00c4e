//! Django's `get_or_create`, which the original methods used to make the first request for a
//! method create its row: select; when absent insert inside a savepoint; on a unique violation
//! (someone else inserted first) roll back to the savepoint and select again.

use sqlx::PgConnection;

use crate::db::errors::UNIQUE_VIOLATION;

pub const SELECT: &str = "SELECT count FROM counter WHERE id = $1";
pub const SELECT_FOR_UPDATE: &str = "SELECT count FROM counter WHERE id = $1 FOR UPDATE";
const INSERT: &str = "INSERT INTO counter (id, count) VALUES ($1, 0)";

/// Which statement reads the row: plain, or locking it (`FOR UPDATE`).
#[derive(Debug, Clone, Copy)]
pub enum Read {
    Plain,
    ForUpdate,
}

impl Read {
    fn sql(self) -> &'static str {
        match self {
            Read::Plain => SELECT,
            Read::ForUpdate => SELECT_FOR_UPDATE,
        }
    }
}

/// Get-or-create inside an open transaction; returns the count read.
///
/// When the insert loses the race and the second select still finds nothing (at repeatable
/// read and above, the row committed by the winner is invisible to this transaction's
/// snapshot), the unique violation is returned: the transaction must roll back, and the
/// request is a definite "not applied". The original ORM raised the same IntegrityError.
pub async fn in_transaction(
    conn: &mut PgConnection,
    id: i64,
    read: Read,
) -> Result<i64, sqlx::Error> {
    if let Some(count) = select(conn, id, read).await? {
        return Ok(count);
    }
    sqlx::raw_sql("SAVEPOINT counter_get_or_create")
        .execute(&mut *conn)
        .await?;
    match sqlx::query(INSERT).bind(id).execute(&mut *conn).await {
        Ok(_) => {
            sqlx::raw_sql("RELEASE SAVEPOINT counter_get_or_create")
                .execute(&mut *conn)
                .await?;
            Ok(0)
        }
        Err(err) if is_unique_violation(&err) => {
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT counter_get_or_create")
                .execute(&mut *conn)
                .await?;
            select(conn, id, read).await?.ok_or(err)
        }
        Err(err) => Err(err),
    }
}

/// Get-or-create outside a transaction (autocommit): every statement commits on its own.
pub async fn autocommit(conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    if select(conn, id, Read::Plain).await?.is_some() {
        return Ok(());
    }
    match sqlx::query(INSERT).bind(id).execute(&mut *conn).await {
        Ok(_) => Ok(()),
        // Someone created it first; a new statement sees their committed row.
        Err(err) if is_unique_violation(&err) => {
            select(conn, id, Read::Plain).await?.map(|_| ()).ok_or(err)
        }
        Err(err) => Err(err),
    }
}

async fn select(conn: &mut PgConnection, id: i64, read: Read) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(read.sql())
        .bind(id)
        .fetch_optional(conn)
        .await
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    crate::db::errors::sqlstate(err).as_deref() == Some(UNIQUE_VIOLATION)
}
