//! Method 2, row lock: `SELECT ... FOR UPDATE` (get-or-create), read, write read + 1.
//!
//! At read committed a blocked `FOR UPDATE` re-reads the newest committed version once the lock
//! is released, so it is correct. At repeatable read and serializable the transaction's snapshot
//! is older than the row it waited for, and PostgreSQL refuses with 40001 instead.

use super::read_then_write::read_then_write;
use super::session::{Guard, MethodContext, Read, Session};
use crate::model::IncrementError;

pub const SUMMARY: &str = "SELECT ... FOR UPDATE (get-or-create), read, write read+1";

pub async fn increment<S: Session>(
    session: &mut S,
    ctx: &MethodContext,
    id: i64,
) -> Result<i64, IncrementError> {
    read_then_write(session, ctx, id, Guard::Nothing, Read::ForUpdate).await
}
