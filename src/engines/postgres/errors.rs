//! PostgreSQL's error table, by SQLSTATE (shared by the engines that speak its protocol).

use sqlx::error::DatabaseError;

use crate::engines::errors::{ErrorTable, rejected};
use crate::model::{DbFailure, ErrorClass};

/// Serialization failure ("could not serialize access ...").
pub const SERIALIZATION_FAILURE: &str = "40001";
/// A detected deadlock.
pub const DEADLOCK_DETECTED: &str = "40P01";
/// "Statement completion unknown": CockroachDB's ambiguous result, when a commit may or may
/// not have been applied. The one code of class 40 that is not a rollback.
pub const COMPLETION_UNKNOWN: &str = "40003";
/// A unique violation (a concurrent get-or-create won the insert).
pub const UNIQUE_VIOLATION: &str = "23505";

pub const TABLE: ErrorTable = ErrorTable {
    code_of: sqlstate_of,
    class_of,
    label: "SQLSTATE ",
};

pub fn classify(err: &sqlx::Error) -> DbFailure {
    TABLE.classify(err)
}

pub fn describe(err: &sqlx::Error) -> String {
    TABLE.describe(err)
}

/// The SQLSTATE of a database error.
pub fn sqlstate(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => sqlstate_of(db.as_ref()),
        _ => None,
    }
}

fn sqlstate_of(db: &dyn DatabaseError) -> Option<String> {
    db.code().map(|code| code.into_owned())
}

fn class_of(code: &str) -> ErrorClass {
    if code == COMPLETION_UNKNOWN {
        return ErrorClass::Ambiguous {
            code: code.to_string(),
        };
    }
    // A new attempt can succeed after a serialization failure or a deadlock, and after the
    // unique violation of a get-or-create whose snapshot cannot see the row another request
    // created (a serialization failure in disguise: the next attempt's snapshot sees it).
    let retryable = matches!(
        code,
        SERIALIZATION_FAILURE | DEADLOCK_DETECTED | UNIQUE_VIOLATION
    );
    match code.get(..2).unwrap_or("") {
        // 40: transaction rollback; 23: integrity violation. Both: rolled back, not applied.
        "40" | "23" => rejected(code, retryable),
        // 08: connection exception; 57: operator intervention (shutdown, crash recovery);
        // 53: insufficient resources (too many connections).
        "08" | "57" | "53" => ErrorClass::Unavailable,
        _ => ErrorClass::Internal,
    }
}
