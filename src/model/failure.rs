//! What a failed database call means for the experiment. Each engine turns its own error codes
//! into these classes (its `errors.rs`); the server turns the classes into HTTP answers, and
//! the hammer turns the answers back into "not applied" or "unknown".

use std::fmt;

/// How the server should treat a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// The database refused the transaction (or statement) and rolled it back: nothing was
    /// applied. `retryable` says whether a new attempt of the whole transaction can succeed.
    Rejected { refusal: Refusal, retryable: bool },
    /// The database cannot say whether the transaction was applied (CockroachDB's 40003).
    Ambiguous,
    /// The database could not be reached, or failed mid-way: whether the work was applied is
    /// unknown.
    Unavailable,
    /// No connection could be had (none free in time, or the database would not open one):
    /// nothing was sent, so nothing was applied.
    NotSent,
    /// Anything else; the cause is logged, never shown to a client.
    Internal,
}

/// What kind of refusal, the same on every engine (each engine's `errors.rs` maps its codes
/// to these): what a client's retry loop keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A serialization failure: PostgreSQL 40001, MariaDB's ER_CHECKREAD (1020), SQLite's
    /// SQLITE_BUSY_SNAPSHOT (a snapshot that cannot be upgraded to a writer).
    Serialization,
    /// A deadlock, detected by the database: PostgreSQL 40P01, MariaDB 1213.
    Deadlock,
    /// A duplicate key (a concurrent get-or-create won the insert): 23505, 1062, SQLITE's
    /// constraint codes.
    Duplicate,
    /// A lock not granted in time: PostgreSQL 55P03, MariaDB 1205.
    LockTimeout,
    /// A statement that ran past the statement timeout, cancelled and rolled back: PostgreSQL
    /// 57014, MariaDB 1969.
    StatementTimeout,
    /// SQLite's database lock held by another connection (SQLITE_BUSY, SQLITE_LOCKED).
    Busy,
    /// Another rollback the engine names (the code says which).
    Other,
}

/// A classified database error and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFailure {
    pub class: ErrorClass,
    /// The engine's own code: the SQLSTATE on PostgreSQL (`40001`), the server's constant on
    /// MariaDB (`ER_LOCK_DEADLOCK`), the result code on SQLite (`SQLITE_BUSY`); None for an
    /// error that never reached a database.
    pub code: Option<String>,
    /// The SQLSTATE, when the engine reports one (PostgreSQL and MariaDB do; SQLite does not).
    pub sqlstate: Option<String>,
    /// The database's own message (for a rejection, safe to show a client).
    pub message: String,
    /// The message with its code, for logs (`could not serialize ... (SQLSTATE 40001)`).
    pub detail: String,
}

impl DbFailure {
    /// A failure of our own making (no database code).
    pub fn ours(class: ErrorClass, message: impl Into<String>) -> DbFailure {
        let message = message.into();
        DbFailure {
            class,
            code: None,
            sqlstate: None,
            detail: message.clone(),
            message,
        }
    }

    /// This failure, met while getting a connection: an unavailable database then means
    /// nothing was sent.
    pub fn before_sending(mut self) -> DbFailure {
        if self.class == ErrorClass::Unavailable {
            self.class = ErrorClass::NotSent;
        }
        self
    }

    /// The engine's error code, whatever the class.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The kind of refusal, when the database refused.
    pub fn refusal(&self) -> Option<Refusal> {
        match self.class {
            ErrorClass::Rejected { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self.class,
            ErrorClass::Rejected {
                retryable: true,
                ..
            }
        )
    }
}

impl fmt::Display for DbFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for DbFailure {}

/// Why an increment was not applied (or may not have been).
#[derive(Debug, Clone, thiserror::Error)]
pub enum IncrementError {
    #[error("{0}")]
    Database(#[from] DbFailure),
    /// Optimistic compare-and-swap lost the race this many times in a row.
    #[error("compare-and-swap lost the race {0} times in a row; gave up")]
    CasExhausted(u32),
    /// An advisory lock was not granted in time (in whole seconds); nothing was done.
    #[error("the advisory lock was not granted within {0} s")]
    LockTimeout(u64),
    /// The method cannot run here (the reason, a whole sentence, says why: the engine cannot
    /// express it, or the server has no script); nothing was tried.
    #[error("{0}")]
    NotApplicable(String),
    /// The row was deleted (a reset) between the increment's read and its write: the write
    /// matched nothing, and the transaction was rolled back.
    #[error("counter {0} was deleted while the increment ran; nothing was applied")]
    RowGone(i64),
    /// A custom method's script refused the attempt: the statement on `line` wrote no row
    /// (`\refuse-if-zero-rows`, a lost optimistic race). A retry may succeed.
    #[error("line {line} of the script wrote no row: refused, nothing was applied")]
    ScriptRefused { line: usize },
    /// A custom method's script could not go on at `line` before anything was applied (its
    /// transaction, if any, was rolled back). `failure`: the database's error, when it was
    /// the database that refused the statement (a division by zero, a missing column).
    #[error("line {line} of the script: {message}; nothing was applied")]
    ScriptFailed {
        line: usize,
        message: String,
        failure: Option<Box<DbFailure>>,
    },
    /// A custom method's script failed at `line` after something of it was committed (an
    /// autocommit write, or a commit the script made itself): the increment may be half done,
    /// and nobody can say.
    #[error("line {line} of the script: {cause}; whether the increment was applied is unknown")]
    ScriptPartlyApplied { line: usize, cause: String },
    /// A custom method's script ran past the increment's deadline: the statement running
    /// then was cancelled (or the sleep cut short) and the transaction rolled back.
    #[error(
        "the script ran past its deadline of {} ms at line {line}: cancelled and rolled back, \
         nothing was applied",
        after.as_millis()
    )]
    DeadlineExceeded {
        line: usize,
        after: std::time::Duration,
    },
    /// An application explored through counter's proxy answered its request with `status`
    /// (not 2xx) and its connection heard no database error: the application failed, and
    /// whether its increment was applied (before it failed) is unknown.
    #[error("the application answered HTTP {status} without a database error")]
    ApplicationError { status: u16 },
}

impl IncrementError {
    /// Whether running the whole transaction again can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            IncrementError::Database(failure) => failure.is_retryable(),
            IncrementError::ScriptRefused { .. } => true,
            IncrementError::CasExhausted(_)
            | IncrementError::LockTimeout(_)
            | IncrementError::NotApplicable(_)
            | IncrementError::RowGone(_)
            | IncrementError::ScriptFailed { .. }
            | IncrementError::ScriptPartlyApplied { .. }
            | IncrementError::DeadlineExceeded { .. }
            | IncrementError::ApplicationError { .. } => false,
        }
    }
}
