//! What a database error means for the experiment: a definite "not applied" (rejected), the
//! database being unavailable, or something unexpected.

use sqlx::error::DatabaseError;
use sqlx::mysql::MySqlDatabaseError;
use sqlx::sqlite::SqliteError;

/// SQLSTATE of serialization failures ("could not serialize access ...").
pub const SERIALIZATION_FAILURE: &str = "40001";
/// SQLSTATE of a detected deadlock.
pub const DEADLOCK_DETECTED: &str = "40P01";
/// SQLSTATE of "statement completion unknown": CockroachDB's ambiguous result, when a commit
/// may or may not have been applied. The one code of class 40 that is not a rollback.
pub const COMPLETION_UNKNOWN: &str = "40003";
/// SQLSTATE of a unique violation (a concurrent get-or-create won the insert).
pub const UNIQUE_VIOLATION: &str = "23505";

/// How the server should treat a failed increment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// The database refused the transaction and rolled it back: nothing was applied.
    Rejected { sqlstate: String },
    /// The database cannot say whether the transaction was applied.
    Ambiguous { sqlstate: String },
    /// The database could not be reached, or the pool had no connection in time.
    Unavailable,
    /// Anything else; the cause is logged, never shown to the client.
    Internal,
}

/// SQLite's refusals, by extended result code: the name we report, and whether a new attempt
/// can succeed (a busy database or a stale snapshot can; nothing else here).
const SQLITE_CODES: [(&str, &str); 6] = [
    ("5", "SQLITE_BUSY"),
    ("261", "SQLITE_BUSY_RECOVERY"),
    ("517", "SQLITE_BUSY_SNAPSHOT"),
    ("6", "SQLITE_LOCKED"),
    ("2067", "SQLITE_CONSTRAINT_UNIQUE"),
    ("1555", "SQLITE_CONSTRAINT_PRIMARYKEY"),
];

/// The error's code as reported: PostgreSQL's SQLSTATE (`40001`), or SQLite's result code by
/// name (`SQLITE_BUSY_SNAPSHOT`), if the error came from the database.
pub fn sqlstate(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => code_of(db.as_ref()),
        _ => None,
    }
}

/// MariaDB's refusals, by error number (its SQLSTATEs are too coarse: 1205 and 1020 are HY000).
const MYSQL_CODES: [(u16, &str); 4] = [
    (1213, "ER_LOCK_DEADLOCK"),
    (1205, "ER_LOCK_WAIT_TIMEOUT"),
    (1020, "ER_CHECKREAD"),
    (1062, "ER_DUP_ENTRY"),
];

fn code_of(db: &dyn DatabaseError) -> Option<String> {
    if let Some(mysql) = db.try_downcast_ref::<MySqlDatabaseError>() {
        let number = mysql.number();
        let name = MYSQL_CODES
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, name)| name);
        return Some(name.map_or_else(|| format!("ER_{number}"), |n| n.to_string()));
    }
    let code = db.code()?;
    if db.try_downcast_ref::<SqliteError>().is_some() {
        let name = SQLITE_CODES
            .iter()
            .find(|(number, _)| *number == code)
            .map(|(_, name)| name.to_string());
        return Some(name.unwrap_or_else(|| format!("SQLITE_{code}")));
    }
    Some(code.into_owned())
}

/// Whether a new attempt of the whole transaction can succeed: serialization failure,
/// deadlock, a busy SQLite database or stale snapshot, and the unique violation of a
/// get-or-create whose snapshot cannot see the row another request created (a serialization
/// failure in disguise: the next attempt's snapshot sees the row).
pub fn is_retryable(err: &sqlx::Error) -> bool {
    sqlstate(err).is_some_and(|code| {
        matches!(
            code.as_str(),
            SERIALIZATION_FAILURE | DEADLOCK_DETECTED | UNIQUE_VIOLATION
        ) || MYSQL_CODES.iter().any(|(_, name)| *name == code)
            || code.starts_with("SQLITE_BUSY")
            || code.starts_with("SQLITE_LOCKED")
            || code.starts_with("SQLITE_CONSTRAINT")
    })
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
    let Some(code) = code_of(db) else {
        return ErrorClass::Internal;
    };
    if MYSQL_CODES.iter().any(|(_, name)| *name == code) {
        return ErrorClass::Rejected { sqlstate: code };
    }
    if code.starts_with("ER_") {
        return ErrorClass::Internal;
    }
    if code.starts_with("SQLITE_") {
        // A busy or locked database, or a lost get-or-create race: rolled back, not applied.
        return if SQLITE_CODES.iter().any(|(_, name)| *name == code) {
            ErrorClass::Rejected { sqlstate: code }
        } else {
            ErrorClass::Internal
        };
    }
    if code == COMPLETION_UNKNOWN {
        return ErrorClass::Ambiguous { sqlstate: code };
    }
    match code.get(..2).unwrap_or("") {
        // 40: transaction rollback; 23: integrity violation (a get-or-create race that the
        // transaction's snapshot cannot resolve). Both mean: rolled back, nothing applied.
        "40" | "23" => ErrorClass::Rejected { sqlstate: code },
        // 08: connection exception; 57: operator intervention (shutdown, crash recovery);
        // 53: insufficient resources (too many connections).
        "08" | "57" | "53" => ErrorClass::Unavailable,
        _ => ErrorClass::Internal,
    }
}

/// A one-line description of an error, safe to show: sqlx never puts passwords in messages.
pub fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => match code_of(db.as_ref()) {
            Some(code) if code.starts_with("SQLITE_") || code.starts_with("ER_") => {
                format!("{} ({code})", db.message())
            }
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_string(),
        },
        other => other.to_string(),
    }
}
