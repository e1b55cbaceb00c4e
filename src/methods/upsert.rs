//! Method 5, upsert: one statement that creates or increments,
//! `INSERT ... ON CONFLICT (id) DO UPDATE SET count = counter.count + 1`. No get-or-create
//! race at all; at read committed the conflicting update waits and applies to the newest
//! version. At repeatable read and above a concurrent update aborts it with 40001.

use super::session::Session;
use crate::model::IncrementError;

pub const SUMMARY: &str = "INSERT ... ON CONFLICT (id) DO UPDATE SET count = counter.count + 1";

pub async fn increment<S: Session>(session: &mut S, id: i64) -> Result<i64, IncrementError> {
    Ok(session.upsert(id).await?)
}
