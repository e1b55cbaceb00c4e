//! Method 4, read-modify-write: read, then write read + 1, with no lock at all. The control
//! group: at read committed two transactions read the same value and both write value + 1, so
//! acknowledged increments vanish (lost updates). If it ever comes out exact under load, the
//! harness is not making the requests overlap.
//!
//! At repeatable read and serializable PostgreSQL detects the second writer and aborts it with
//! 40001: rejected instead of lost.

use sqlx::PgConnection;

use super::MethodContext;
use super::get_or_create::Read;
use super::transaction::{Guard, read_then_write};

pub async fn increment(
    ctx: &MethodContext,
    conn: &mut PgConnection,
    id: i64,
) -> Result<i64, sqlx::Error> {
    read_then_write(ctx, conn, id, Guard::None, Read::Plain).await
}
