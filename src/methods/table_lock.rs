//! Method 1, table lock: the table locked as the transaction's first statement
//! (PostgreSQL: `LOCK TABLE counter IN EXCLUSIVE MODE`), then get-or-create, read, and write
//! read + 1.
//!
//! The lock is taken before the transaction's snapshot (repeatable read and serializable take
//! it at the first query, and LOCK is not a query), so every transaction reads the value its
//! predecessor committed: correct at every level, at the price of serializing all writers.

use super::read_then_write::read_then_write;
use super::session::{Guard, MethodContext, Read, Session};
use crate::model::IncrementError;

pub const SUMMARY: &str = "transaction: LOCK TABLE first, then get-or-create, read, write read+1";

pub async fn increment<S: Session>(
    session: &mut S,
    ctx: &MethodContext,
    id: i64,
) -> Result<i64, IncrementError> {
    read_then_write(session, ctx, id, Guard::Table, Read::Plain).await
}
