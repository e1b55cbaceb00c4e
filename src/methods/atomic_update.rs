//! Method 3, database level: no explicit transaction; get-or-create, then
//! `UPDATE counter SET count = count + 1`. Each statement is its own implicit transaction at
//! the run's level: at read committed the UPDATE re-evaluates against the newest row version;
//! at repeatable read and serializable a concurrent update of the same row aborts it with
//! 40001.

use super::get_or_create::get_or_create;
use super::session::{Read, Session};
use super::span::Span;
use crate::model::IncrementError;

pub const SUMMARY: &str = "autocommit: get-or-create, then one UPDATE that adds 1 in the database";

pub async fn increment<S: Session>(
    session: &mut S,
    id: i64,
    span: &Span,
) -> Result<i64, IncrementError> {
    get_or_create(session, id, Read::Plain).await?;
    span.begin();
    let written = session.add(id, 1).await?;
    // None: the row vanished between get-or-create and the update (a reset ran in between);
    // nothing was applied, and the request says so instead of acknowledging.
    written.ok_or(IncrementError::RowGone(id))
}
