//! Method 6, advisory lock: a lock keyed by the row id (PostgreSQL:
//! `SELECT pg_advisory_xact_lock(id)`) first, then read-modify-write.
//!
//! Unlike `LOCK TABLE`, taking the advisory lock is a query: at repeatable read and serializable
//! it fixes the transaction's snapshot *before* waiting for the lock, so the value read after
//! the wait is stale and the write is refused with 40001. Correct at read committed only.

use super::read_then_write::read_then_write;
use super::session::{Guard, MethodContext, Read, Session};
use crate::model::IncrementError;

pub const SUMMARY: &str = "transaction: an advisory lock on the id first, then read, write read+1";

pub async fn increment<S: Session>(
    session: &mut S,
    ctx: &MethodContext,
    id: i64,
) -> Result<i64, IncrementError> {
    read_then_write(session, ctx, id, Guard::Key, Read::Plain).await
}
