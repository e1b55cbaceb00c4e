//! What a database error means for the experiment: a definite "not applied" (rejected), the
//! database being unavailable, or something unexpected.

use sqlx::error::DatabaseError;

/// SQLSTATE of serialization failures ("could not serialize access ...").
pub const SERIALIZATION_FAILURE: &str = "40001";
/// SQLSTATE of a detected deadlock.
pub const DEADLOCK_DETECTED: &str = "40P01";
/// SQLSTATE of a unique violation (a concurrent get-or-create won the insert).
pub const UNIQUE_VIOLATION: &str = "23505";

/// How the server should treat a failed increment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// The database refused the transaction and rolled it back: nothing was applied.
    Rejected { sqlstate: String },
    /// The database could not be reached, or the pool had no connection in time.
    Unavailable,
    /// Anything else; the cause is logged, never shown to the client.
    Internal,
}

/// The SQLSTATE of a database error, if the error came from the database.
pub fn sqlstate(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
        _ => None,
    }
}

/// Whether retrying the whole transaction can succeed (serialization failure or deadlock).
pub fn is_retryable(err: &sqlx::Error) -> bool {
    matches!(
        sqlstate(err).as_deref(),
        Some(SERIALIZATION_FAILURE | DEADLOCK_DETECTED)
    )
}

pub fn classify(err: &sqlx::Error) -> ErrorClass {
    match err {
        sqlx::Error::Database(db) => classify_database(db.as_ref()),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::BeginFailed => ErrorClass::Unavailable,
        _ => ErrorClass::Internal,
    }
}

fn classify_database(db: &dyn DatabaseError) -> ErrorClass {
    let Some(code) = db.code() else {
        return ErrorClass::Internal;
    };
    match &code[..2] {
        // 40: transaction rollback; 23: integrity violation (a get-or-create race that the
        // transaction's snapshot cannot resolve). Both mean: rolled back, nothing applied.
        "40" | "23" => ErrorClass::Rejected {
            sqlstate: code.into_owned(),
        },
        // 08: connection exception; 57: operator intervention (shutdown, crash recovery);
        // 53: insufficient resources (too many connections).
        "08" | "57" | "53" => ErrorClass::Unavailable,
        _ => ErrorClass::Internal,
    }
}

/// A one-line description of an error, safe to show: sqlx never puts passwords in messages.
pub fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_string(),
        },
        other => other.to_string(),
    }
}
