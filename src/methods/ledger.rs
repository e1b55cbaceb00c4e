//! Method 11, ledger (append only): each increment inserts one row into `counter_ledger`; the
//! counter is the number of the row's entries (counted through an index on `id`). No row is
//! ever updated, so no isolation level can refuse or lose an increment, and concurrent
//! increments never wait for each other's row lock. The price moves to reads (a count over
//! the entries) and storage (a row per increment); a roll-up table folded in by a background
//! job would bound both, at the cost of a second writer to reason about, which this lab
//! leaves out on purpose. The increment cannot know the counter's value without counting, so
//! its answer has no count (`count_is: unknown`).

use super::session::Session;
use crate::model::IncrementError;

pub const SUMMARY: &str =
    "one statement: append an entry to counter_ledger; the counter is the number of entries";

pub async fn increment<S: Session>(session: &mut S, id: i64) -> Result<(), IncrementError> {
    Ok(session.append(id).await?)
}
