//! What SQLite cannot express, and why: reported, never approximated.

use crate::model::{Isolation, MethodId};

pub const NO_ROW_LOCKS: &str = "SQLite has no row locks: SELECT ... FOR UPDATE does not exist";
pub const NO_ADVISORY_LOCKS: &str = "SQLite has no advisory locks";
const ONLY_SERIALIZABLE: &str = "SQLite runs every transaction serializable (read uncommitted exists only in its shared-cache mode)";

/// Why SQLite cannot run `method`, or (with None) has no such `level`, if so. Its missing
/// features are reported, never approximated. A server asked for another level still runs
/// serializable, and says so in its effective level.
pub fn not_applicable(level: Isolation, method: Option<MethodId>) -> Option<&'static str> {
    match method {
        None if level != Isolation::Serializable => Some(ONLY_SERIALIZABLE),
        Some(MethodId::RowLock) => Some(NO_ROW_LOCKS),
        Some(MethodId::AdvisoryLock) => Some(NO_ADVISORY_LOCKS),
        _ => None,
    }
}
