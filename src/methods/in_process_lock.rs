//! Method 8, in-process lock: an application mutex around read-modify-write. While one server
//! process serves all requests it serializes them (correct at every level: each transaction
//! starts after the previous one committed). Two servers have two mutexes: at read committed
//! the updates are lost again, at repeatable read and above they are refused with 40001.

use super::read_then_write::read_then_write;
use super::session::{Guard, MethodContext, Read, Session};
use crate::model::IncrementError;

pub const SUMMARY: &str = "an application mutex around read, write read+1 (one server only)";

pub async fn increment<S: Session>(
    session: &mut S,
    ctx: &MethodContext,
    id: i64,
) -> Result<i64, IncrementError> {
    let _guard = ctx.local_lock.lock().await;
    read_then_write(session, ctx, id, Guard::Nothing, Read::Plain).await
}
