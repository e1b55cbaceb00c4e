//! Method 5, upsert: one statement that creates or increments,
//! `INSERT ... ON CONFLICT (id) DO UPDATE SET count = counter.count + 1`. No get-or-create
//! race at all; at read committed the conflicting update waits and applies to the newest
//! version. At repeatable read and above a concurrent update aborts it with 40001.

use sqlx::PgConnection;

const UPSERT: &str = "INSERT INTO counter (id, count) VALUES ($1, 1) \
     ON CONFLICT (id) DO UPDATE SET count = counter.count + 1 RETURNING count";

pub async fn increment(conn: &mut PgConnection, id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(UPSERT).bind(id).fetch_one(conn).await
}
