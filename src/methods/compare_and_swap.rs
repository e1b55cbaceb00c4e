//! Method 7, optimistic compare-and-swap, in autocommit: read the count, then
//! `UPDATE ... SET count = old + 1 WHERE id = $1 AND count = old`; when no row matched, someone
//! else won: read again and retry, up to a bound. Exhausting the bound is a rejection.
//!
//! At repeatable read and above the losing UPDATE is not told "0 rows": it waits for the
//! winner and is aborted with 40001.

use super::get_or_create::get_or_create;
use super::session::{MethodContext, Read, Session};
use super::span::Span;
use crate::model::IncrementError;

/// How many lost races a request tolerates before it gives up.
pub const MAX_TRIES: u32 = 100;

pub const SUMMARY: &str =
    "autocommit: read, UPDATE ... WHERE count = old, loop on 0 rows (bounded)";

pub async fn increment<S: Session>(
    session: &mut S,
    ctx: &MethodContext,
    id: i64,
    span: &Span,
) -> Result<i64, IncrementError> {
    get_or_create(session, id, Read::Plain).await?;
    span.begin();
    for _ in 0..MAX_TRIES {
        let old = session
            .read(id, Read::Plain)
            .await?
            .ok_or(IncrementError::RowGone(id))?;
        ctx.think().await;
        if session.swap(id, old, old + 1).await? == 1 {
            return Ok(old + 1);
        }
    }
    Err(IncrementError::CasExhausted(MAX_TRIES))
}
