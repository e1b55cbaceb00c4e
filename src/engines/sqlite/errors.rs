//! SQLite's error table, by extended result code. SQLite has no SQLSTATEs.

use sqlx::error::DatabaseError;
use sqlx::sqlite::SqliteError;

use crate::engines::errors::{ErrorTable, rejected};
use crate::model::{DbFailure, ErrorClass, Refusal};

/// The refusals, by extended result code: a busy or locked database, a stale snapshot, or a
/// lost get-or-create race. Rolled back, not applied; a new attempt can succeed.
const REFUSALS: [(&str, &str, Refusal); 6] = [
    ("5", BUSY, Refusal::Busy),
    ("261", "SQLITE_BUSY_RECOVERY", Refusal::Busy),
    ("517", "SQLITE_BUSY_SNAPSHOT", Refusal::Serialization),
    ("6", "SQLITE_LOCKED", Refusal::Busy),
    ("2067", "SQLITE_CONSTRAINT_UNIQUE", Refusal::Duplicate),
    ("1555", "SQLITE_CONSTRAINT_PRIMARYKEY", Refusal::Duplicate),
];

/// The database's lock is held by another connection: with a busy timeout, the statement
/// waited that long; with none, it would have had to wait.
pub const BUSY: &str = "SQLITE_BUSY";

/// The file cannot be used now: it cannot be opened (14), the disk is full (13), reading or
/// writing it failed (10, and its extended codes), memory ran out (7).
const UNAVAILABLE: [(&str, &str); 4] = [
    ("14", "SQLITE_CANTOPEN"),
    ("13", "SQLITE_FULL"),
    ("10", "SQLITE_IOERR"),
    ("7", "SQLITE_NOMEM"),
];

pub const TABLE: ErrorTable = ErrorTable {
    code_of,
    sqlstate_of: |_| None,
    class_of,
    label: "",
};

pub fn classify(err: &sqlx::Error) -> DbFailure {
    TABLE.classify(err)
}

fn code_of(db: &dyn DatabaseError) -> Option<String> {
    db.try_downcast_ref::<SqliteError>()?;
    let number = db.code()?;
    // The primary result code is the extended code's low byte (SQLITE_IOERR_READ is 266).
    let primary = number
        .parse::<u32>()
        .map(|n| (n & 0xff).to_string())
        .unwrap_or_default();
    let refusal = REFUSALS.iter().find(|(n, ..)| *n == number).map(|r| r.1);
    let unavailable = UNAVAILABLE.iter().find(|(n, _)| *n == primary).map(|u| u.1);
    let name = refusal.or(unavailable);
    Some(name.map_or_else(|| format!("SQLITE_{number}"), str::to_string))
}

fn class_of(code: &str) -> ErrorClass {
    if let Some((_, _, refusal)) = REFUSALS.iter().find(|(_, name, _)| *name == code) {
        return rejected(*refusal, true);
    }
    if UNAVAILABLE.iter().any(|(_, name)| *name == code) {
        return ErrorClass::Unavailable;
    }
    ErrorClass::Internal
}
