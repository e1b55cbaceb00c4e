//! Django's `get_or_create`, which the original methods used to make the first request for a
//! method create its row: select; when absent insert; when someone else inserted first, select
//! again. Inside a transaction the engine keeps a failed insert from aborting it (PostgreSQL
//! with a savepoint, as the ORM does; InnoDB and SQLite abort only the statement).

use super::session::{Inserted, Read, Session};
use crate::model::DbFailure;

/// Returns the count read (0 for a row this call created).
///
/// When the insert loses the race and the second select still finds nothing (at repeatable
/// read and above, the row committed by the winner is invisible to this transaction's
/// snapshot), the duplicate-key error is returned: the transaction must roll back, and the
/// request is a definite "not applied". The original ORM raised the same IntegrityError.
pub async fn get_or_create<S: Session>(
    session: &mut S,
    id: i64,
    read: Read,
) -> Result<i64, DbFailure> {
    if let Some(count) = session.read(id, read).await? {
        return Ok(count);
    }
    match session.insert(id).await? {
        Inserted::Created => Ok(0),
        Inserted::Exists(duplicate) => session.read(id, read).await?.ok_or(duplicate),
    }
}
