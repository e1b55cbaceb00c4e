//! PostgreSQL's error table, by SQLSTATE (shared by the engines that speak its protocol).

use sqlx::error::DatabaseError;

use crate::engines::errors::{ErrorTable, rejected};
use crate::model::{DbFailure, ErrorClass, Refusal};

/// Serialization failure ("could not serialize access ...").
pub const SERIALIZATION_FAILURE: &str = "40001";
/// A detected deadlock.
pub const DEADLOCK_DETECTED: &str = "40P01";
/// "Statement completion unknown": CockroachDB's ambiguous result, when a commit may or may
/// not have been applied. The one code of class 40 that is not a rollback.
pub const COMPLETION_UNKNOWN: &str = "40003";
/// A unique violation (a concurrent get-or-create won the insert).
pub const UNIQUE_VIOLATION: &str = "23505";
/// A lock not granted within `lock_timeout`.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";
/// A statement cancelled (by `statement_timeout`, or `pg_cancel_backend`): it rolled back,
/// and so does its transaction. Not a connection failure, unlike the rest of class 57.
pub const QUERY_CANCELED: &str = "57014";

pub const TABLE: ErrorTable = ErrorTable {
    code_of: sqlstate_of,
    sqlstate_of,
    class_of,
    label: "SQLSTATE ",
};

pub fn classify(err: &sqlx::Error) -> DbFailure {
    TABLE.classify(err)
}

pub fn describe(err: &sqlx::Error) -> String {
    TABLE.describe(err)
}

fn sqlstate_of(db: &dyn DatabaseError) -> Option<String> {
    db.code().map(|code| code.into_owned())
}

fn class_of(code: &str) -> ErrorClass {
    if code == COMPLETION_UNKNOWN {
        return ErrorClass::Ambiguous;
    }
    // A new attempt can succeed after a serialization failure or a deadlock, and after the
    // unique violation of a get-or-create whose snapshot cannot see the row another request
    // created (a serialization failure in disguise: the next attempt's snapshot sees it).
    let refusal = match code {
        SERIALIZATION_FAILURE => Some((Refusal::Serialization, true)),
        DEADLOCK_DETECTED => Some((Refusal::Deadlock, true)),
        UNIQUE_VIOLATION => Some((Refusal::Duplicate, true)),
        LOCK_NOT_AVAILABLE => Some((Refusal::LockTimeout, true)),
        QUERY_CANCELED => Some((Refusal::StatementTimeout, false)),
        _ => None,
    };
    if let Some((refusal, retryable)) = refusal {
        return rejected(refusal, retryable);
    }
    match code.get(..2).unwrap_or("") {
        // 40: transaction rollback; 23: integrity violation. Both: rolled back, not applied.
        "40" | "23" => rejected(Refusal::Other, false),
        // 08: connection exception; 57: operator intervention (shutdown, crash recovery);
        // 53: insufficient resources (too many connections).
        "08" | "57" | "53" => ErrorClass::Unavailable,
        _ => ErrorClass::Internal,
    }
}
