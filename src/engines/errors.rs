//! What a database error means for the experiment, shared by every engine: errors that never
//! reached a database (I/O, a full pool) are classified here; each engine's `errors.rs` names
//! and classifies its own database errors.

use sqlx::error::DatabaseError;

use crate::model::{DbFailure, ErrorClass, Refusal};

/// An engine's error table: the code of a database error (`40001`, `ER_LOCK_DEADLOCK`,
/// `SQLITE_BUSY`), its SQLSTATE when the engine reports one, what the code means, and how the
/// code is labelled in messages.
pub struct ErrorTable {
    pub code_of: fn(&dyn DatabaseError) -> Option<String>,
    pub sqlstate_of: fn(&dyn DatabaseError) -> Option<String>,
    pub class_of: fn(&str) -> ErrorClass,
    /// Written before the code in messages (`SQLSTATE ` for PostgreSQL).
    pub label: &'static str,
}

impl ErrorTable {
    pub fn classify(&self, err: &sqlx::Error) -> DbFailure {
        match err {
            sqlx::Error::Database(db) => {
                let code = (self.code_of)(db.as_ref());
                let sqlstate = (self.sqlstate_of)(db.as_ref());
                self.failure(code, sqlstate, db.message())
            }
            other => DbFailure::ours(transport_class(other), other.to_string()),
        }
    }

    /// A database error heard on the wire (a proxied connection's `ErrorResponse`): its code,
    /// which for PostgreSQL is its SQLSTATE, and its message.
    pub fn heard(&self, code: &str, message: &str) -> DbFailure {
        let code = Some(code.to_string());
        self.failure(code.clone(), code, message)
    }

    fn failure(&self, code: Option<String>, sqlstate: Option<String>, message: &str) -> DbFailure {
        let class = code
            .as_deref()
            .map_or(ErrorClass::Internal, |code| (self.class_of)(code));
        let detail = match (&code, &sqlstate) {
            (Some(code), Some(state)) if code != state => {
                format!("{message} ({}{code}, SQLSTATE {state})", self.label)
            }
            (Some(code), _) => format!("{message} ({}{code})", self.label),
            (None, _) => message.to_string(),
        };
        DbFailure {
            class,
            code,
            sqlstate,
            message: message.to_string(),
            detail,
        }
    }

    /// A one-line description of an error, safe to show: sqlx never puts passwords in
    /// messages.
    pub fn describe(&self, err: &sqlx::Error) -> String {
        self.classify(err).detail
    }
}

/// Errors that did not come from the database: no connection could be had (nothing sent), the
/// connection failed (unavailable: whether the work was applied is unknown), or something
/// unexpected.
fn transport_class(err: &sqlx::Error) -> ErrorClass {
    match err {
        // Only getting a connection fails these ways.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => ErrorClass::NotSent,
        sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::BeginFailed => ErrorClass::Unavailable,
        _ => ErrorClass::Internal,
    }
}

/// A refusal: rolled back, nothing applied.
pub fn rejected(refusal: Refusal, retryable: bool) -> ErrorClass {
    ErrorClass::Rejected { refusal, retryable }
}
