//! Method 1, table lock: `LOCK TABLE counter IN EXCLUSIVE MODE` as the first statement of the
//! transaction, then get-or-create, read, and write read + 1.
//!
//! The lock is taken before the transaction's snapshot (the snapshot of repeatable read and
//! serializable is taken at the first query, and LOCK is not a query), so every transaction
//! reads the value its predecessor committed: correct at every level.

use sqlx::PgPool;

use super::get_or_create::{self, Read};

const LOCK: &str = "LOCK TABLE counter IN EXCLUSIVE MODE";
const WRITE: &str = "UPDATE counter SET count = $2 WHERE id = $1";

pub async fn increment(pool: &PgPool, id: i64) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(LOCK).execute(&mut *tx).await?;
    let read = get_or_create::in_transaction(&mut tx, id, Read::Plain).await?;
    let written = read + 1;
    sqlx::query(WRITE)
        .bind(id)
        .bind(written)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(written)
}
