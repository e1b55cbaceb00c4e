//! SQLite's error table, by extended result code.

use sqlx::error::DatabaseError;
use sqlx::sqlite::SqliteError;

use crate::engines::errors::{ErrorTable, rejected};
use crate::model::{DbFailure, ErrorClass};

/// The refusals, by extended result code: a busy or locked database, a stale snapshot, or a
/// lost get-or-create race. Rolled back, not applied; a new attempt can succeed.
const REFUSALS: [(&str, &str); 6] = [
    ("5", "SQLITE_BUSY"),
    ("261", "SQLITE_BUSY_RECOVERY"),
    ("517", "SQLITE_BUSY_SNAPSHOT"),
    ("6", "SQLITE_LOCKED"),
    ("2067", "SQLITE_CONSTRAINT_UNIQUE"),
    ("1555", "SQLITE_CONSTRAINT_PRIMARYKEY"),
];

pub const TABLE: ErrorTable = ErrorTable {
    code_of,
    class_of,
    label: "",
};

pub fn classify(err: &sqlx::Error) -> DbFailure {
    TABLE.classify(err)
}

/// Whether `err` is a duplicate key.
pub fn is_duplicate(err: &sqlx::Error) -> bool {
    classify(err)
        .code()
        .is_some_and(|code| code.starts_with("SQLITE_CONSTRAINT"))
}

fn code_of(db: &dyn DatabaseError) -> Option<String> {
    db.try_downcast_ref::<SqliteError>()?;
    let number = db.code()?;
    let name = REFUSALS.iter().find(|(n, _)| *n == number);
    Some(name.map_or_else(|| format!("SQLITE_{number}"), |(_, name)| name.to_string()))
}

fn class_of(code: &str) -> ErrorClass {
    if REFUSALS.iter().any(|(_, name)| *name == code) {
        rejected(code, true)
    } else {
        ErrorClass::Internal
    }
}
