//! Method 2, row lock: `SELECT ... FOR UPDATE` (get-or-create), read, write read + 1.
//!
//! At read committed a blocked `FOR UPDATE` re-reads the newest committed version once the lock
//! is released, so it is correct. At repeatable read and serializable the transaction's snapshot
//! is older than the row it waited for, and PostgreSQL refuses with 40001 instead.

use sqlx::PgConnection;

use super::MethodContext;
use super::get_or_create::Read;
use super::transaction::{Guard, read_then_write};

pub async fn increment(
    ctx: &MethodContext,
    conn: &mut PgConnection,
    id: i64,
) -> Result<i64, sqlx::Error> {
    read_then_write(ctx, conn, id, Guard::None, Read::ForUpdate).await
}
