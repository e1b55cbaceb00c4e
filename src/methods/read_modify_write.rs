//! Method 4, read-modify-write: read, then write read + 1, with no lock at all. The control
//! group: at read committed two transactions read the same value and both write value + 1, so
//! acknowledged increments vanish (lost updates). If it ever comes out exact under load, the
//! harness is not making the requests overlap.
//!
//! At repeatable read and serializable PostgreSQL detects the second writer and aborts it with
//! 40001: rejected instead of lost.

use super::read_then_write::read_then_write;
use super::session::{Guard, MethodContext, Read, Session};
use crate::model::IncrementError;

pub const SUMMARY: &str = "transaction: read, write read+1, no lock (the control: loses updates)";

pub async fn increment<S: Session>(
    session: &mut S,
    ctx: &MethodContext,
    id: i64,
) -> Result<i64, IncrementError> {
    read_then_write(session, ctx, id, Guard::Nothing, Read::Plain).await
}
