//! Method 3, database level: no explicit transaction; get-or-create, then
//! `UPDATE counter SET count = count + 1`. Each statement is its own implicit transaction at
//! the run's `default_transaction_isolation`: at read committed the UPDATE re-evaluates against
//! the newest row version; at repeatable read and serializable a concurrent update of the same
//! row aborts it with 40001.

use sqlx::PgConnection;

use super::get_or_create;

const INCREMENT: &str = "UPDATE counter SET count = count + 1 WHERE id = $1 RETURNING count";

pub async fn increment(conn: &mut PgConnection, id: i64) -> Result<i64, sqlx::Error> {
    get_or_create::autocommit(conn, id).await?;
    sqlx::query_scalar(INCREMENT).bind(id).fetch_one(conn).await
}
