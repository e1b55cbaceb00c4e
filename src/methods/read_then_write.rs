//! The shape shared by every read-then-write method: in one transaction behind an optional
//! guard, get-or-create and read, an optional pause, write read + 1, commit. The methods differ
//! only in the guard and in how they read; each file says which and why it matters.

use super::get_or_create::get_or_create;
use super::session::{Guard, MethodContext, Read, Session};
use crate::model::IncrementError;

/// Runs the read-then-write transaction; returns the count written. Whatever fails, the
/// transaction is rolled back and its guard let go.
pub async fn read_then_write<S: Session>(
    session: &mut S,
    ctx: &MethodContext,
    id: i64,
    guard: Guard,
    read: Read,
) -> Result<i64, IncrementError> {
    session.begin(guard, id).await?;
    let body = async {
        let count = get_or_create(session, id, read).await?;
        ctx.think().await;
        let written = count + 1;
        if session.write(id, written).await? == 0 {
            return Err(IncrementError::RowGone(id));
        }
        Ok::<i64, IncrementError>(written)
    }
    .await;
    match body {
        Ok(written) => {
            session.commit().await?;
            Ok(written)
        }
        Err(err) => {
            session.rollback().await;
            Err(err)
        }
    }
}
