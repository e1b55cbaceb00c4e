//! Method 7, optimistic compare-and-swap, in autocommit: read the count, then
//! `UPDATE ... SET count = old + 1 WHERE id = $1 AND count = old`; when no row matched, someone
//! else won: read again and retry, up to a bound. Exhausting the bound is a rejection.
//!
//! At repeatable read and above the losing UPDATE is not told "0 rows": it waits for the
//! winner and is aborted with 40001.

use sqlx::PgConnection;

use super::get_or_create;
use super::{MethodContext, MethodError};

/// How many lost races a request tolerates before it gives up.
pub const MAX_TRIES: u32 = 100;

const READ: &str = "SELECT count FROM counter WHERE id = $1";
const SWAP: &str = "UPDATE counter SET count = $3 WHERE id = $1 AND count = $2";

pub async fn increment(
    ctx: &MethodContext,
    conn: &mut PgConnection,
    id: i64,
) -> Result<i64, MethodError> {
    get_or_create::autocommit(conn, id).await?;
    for _ in 0..MAX_TRIES {
        let old: i64 = sqlx::query_scalar(READ)
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
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
    Err(MethodError::CasExhausted(MAX_TRIES))
}
