//! Method 5, upsert: one statement that creates or increments,
//! `INSERT ... ON CONFLICT (id) DO UPDATE SET count = counter.count + 1`. No get-or-create
//! race at all; at read committed the conflicting update waits and applies to the newest
//! version. At repeatable read and above a concurrent update aborts it with 40001.

use super::session::Session;
use crate::model::IncrementError;

pub const SUMMARY: &str =
    "one statement: insert the row at 1, or add 1 to it (the engine's upsert)";

pub async fn increment<S: Session>(session: &mut S, id: i64) -> Result<i64, IncrementError> {
    Ok(session.upsert(id).await?)
}
