//! MariaDB's error table, by error number: its SQLSTATEs are too coarse (1205 and 1020 are
//! both HY000), so refusals are named after the server's own constants.

use sqlx::error::DatabaseError;
use sqlx::mysql::MySqlDatabaseError;

use crate::engines::errors::{ErrorTable, rejected};
use crate::model::{DbFailure, ErrorClass};

/// The refusals: the transaction (or statement) was rolled back, and a new attempt can
/// succeed.
const REFUSALS: [(u16, &str); 4] = [
    (1213, "ER_LOCK_DEADLOCK"),
    (1205, "ER_LOCK_WAIT_TIMEOUT"),
    (1020, "ER_CHECKREAD"),
    (DUPLICATE_ENTRY, "ER_DUP_ENTRY"),
];

/// A duplicate key (a concurrent get-or-create won the insert).
pub const DUPLICATE_ENTRY: u16 = 1062;

pub const TABLE: ErrorTable = ErrorTable {
    code_of,
    class_of,
    label: "",
};

pub fn classify(err: &sqlx::Error) -> DbFailure {
    TABLE.classify(err)
}

/// Whether `err` is a duplicate-key error.
pub fn is_duplicate(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<MySqlDatabaseError>()
            .is_some_and(|e| e.number() == DUPLICATE_ENTRY),
        _ => false,
    }
}

fn code_of(db: &dyn DatabaseError) -> Option<String> {
    let number = db.try_downcast_ref::<MySqlDatabaseError>()?.number();
    let name = REFUSALS.iter().find(|(n, _)| *n == number);
    Some(name.map_or_else(|| format!("ER_{number}"), |(_, name)| name.to_string()))
}

fn class_of(code: &str) -> ErrorClass {
    if REFUSALS.iter().any(|(_, name)| *name == code) {
        rejected(code, true)
    } else {
        ErrorClass::Internal
    }
}
