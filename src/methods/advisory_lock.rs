//! Method 6, advisory lock: `SELECT pg_advisory_xact_lock(id)` first, then read-modify-write.
//!
//! Unlike `LOCK TABLE`, taking the advisory lock is a query: at repeatable read and serializable
//! it fixes the transaction's snapshot *before* waiting for the lock, so the value read after
//! the wait is stale and the write is refused with 40001. Correct at read committed only.

use sqlx::PgConnection;

use super::MethodContext;
use super::get_or_create::Read;
use super::transaction::{Guard, read_then_write};

pub const LOCK: &str = "SELECT pg_advisory_xact_lock($1)";

pub async fn increment(
    ctx: &MethodContext,
    conn: &mut PgConnection,
    id: i64,
) -> Result<i64, sqlx::Error> {
    read_then_write(ctx, conn, id, Guard::Keyed(LOCK), Read::Plain).await
}
