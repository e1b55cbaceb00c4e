//! Method 1, table lock: `LOCK TABLE counter IN EXCLUSIVE MODE` as the first statement of the
//! transaction, then get-or-create, read, and write read + 1.
//!
//! The lock is taken before the transaction's snapshot (repeatable read and serializable take
//! it at the first query, and LOCK is not a query), so every transaction reads the value its
//! predecessor committed: correct at every level, at the price of serializing all writers.

use sqlx::PgConnection;

use super::MethodContext;
use super::get_or_create::Read;
use super::transaction::{Guard, read_then_write};

pub const LOCK: &str = "LOCK TABLE counter IN EXCLUSIVE MODE";

pub async fn increment(
    ctx: &MethodContext,
    conn: &mut PgConnection,
    id: i64,
) -> Result<i64, sqlx::Error> {
    read_then_write(ctx, conn, id, Guard::Statement(LOCK), Read::Plain).await
}
