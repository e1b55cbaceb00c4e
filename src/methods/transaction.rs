//! The shape shared by every read-then-write method: in one transaction, an optional guard
//! statement, get-or-create and read, an optional pause, write read + 1, commit. The methods
//! differ only in the guard and in how they read; each file says which and why it matters.

use sqlx::{Connection, PgConnection};

use super::MethodContext;
use super::get_or_create::{self, Read};

const WRITE: &str = "UPDATE counter SET count = $2 WHERE id = $1";

/// A statement run first in the transaction, before anything reads.
#[derive(Debug, Clone, Copy)]
pub enum Guard {
    None,
    /// A statement without parameters (e.g. `LOCK TABLE`), sent as simple query.
    Statement(&'static str),
    /// A statement whose `$1` is the row id (e.g. an advisory lock keyed by it).
    Keyed(&'static str),
}

impl Guard {
    async fn run(self, conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
        match self {
            Guard::None => {}
            Guard::Statement(sql) => {
                sqlx::raw_sql(sql).execute(conn).await?;
            }
            Guard::Keyed(sql) => {
                sqlx::query(sql).bind(id).execute(conn).await?;
            }
        }
        Ok(())
    }
}

/// Runs the read-then-write transaction; returns the count written.
pub async fn read_then_write(
    ctx: &MethodContext,
    conn: &mut PgConnection,
    id: i64,
    guard: Guard,
    read: Read,
) -> Result<i64, sqlx::Error> {
    let mut tx = conn.begin().await?;
    guard.run(&mut tx, id).await?;
    let count = get_or_create::in_transaction(&mut tx, id, read).await?;
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
