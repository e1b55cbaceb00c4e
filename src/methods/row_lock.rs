//! Method 2, row lock: `SELECT ... FOR UPDATE` (get-or-create), read, write read + 1.
//!
//! At read committed a blocked `FOR UPDATE` re-reads the newest committed version once the lock
//! is released, so it is correct. At repeatable read and serializable the transaction's snapshot
//! is older than the row it waited for, and PostgreSQL refuses with 40001 instead.

use sqlx::PgPool;

use super::get_or_create::{self, Read};

const WRITE: &str = "UPDATE counter SET count = $2 WHERE id = $1";

pub async fn increment(pool: &PgPool, id: i64) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let read = get_or_create::in_transaction(&mut tx, id, Read::ForUpdate).await?;
    let written = read + 1;
    sqlx::query(WRITE)
        .bind(id)
        .bind(written)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(written)
}
