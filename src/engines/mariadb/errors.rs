//! MariaDB's error table, by error number. Every error carries a SQLSTATE too, but they are
//! too coarse to classify by (1205 and 1020 are both HY000), so codes are the server's own
//! constants and the SQLSTATE travels beside them.

use sqlx::error::DatabaseError;
use sqlx::mysql::MySqlDatabaseError;

use crate::engines::errors::{ErrorTable, rejected};
use crate::model::{DbFailure, ErrorClass, Refusal};

/// The refusals: the transaction (or statement) was rolled back, and (but after a statement
/// timeout) a new attempt can succeed.
const REFUSALS: [(u16, &str, Refusal); 5] = [
    (1213, "ER_LOCK_DEADLOCK", Refusal::Deadlock),
    (1205, "ER_LOCK_WAIT_TIMEOUT", Refusal::LockTimeout),
    // max_statement_time: the statement was rolled back (the methods then roll back).
    (1969, "ER_STATEMENT_TIMEOUT", Refusal::StatementTimeout),
    (1020, "ER_CHECKREAD", Refusal::Serialization),
    (DUPLICATE_ENTRY, "ER_DUP_ENTRY", Refusal::Duplicate),
];

/// The server cannot take the work now: too many connections (1040, 1203), shutting down
/// (1053), the connection killed (1927).
const UNAVAILABLE: [(u16, &str); 4] = [
    (1040, "ER_CON_COUNT_ERROR"),
    (1203, "ER_TOO_MANY_USER_CONNECTIONS"),
    (1053, "ER_SERVER_SHUTDOWN"),
    (1927, "ER_CONNECTION_KILLED"),
];

/// A duplicate key (a concurrent get-or-create won the insert).
pub const DUPLICATE_ENTRY: u16 = 1062;

pub const TABLE: ErrorTable = ErrorTable {
    code_of,
    sqlstate_of,
    class_of,
    label: "",
};

/// The table of a session on a Galera node whose increments are spread over the nodes. There
/// ER_LOCK_DEADLOCK (1213) is, as a rule, no cycle of lock waits: a transaction on another
/// node got its write set certified first, and this one's failed certification at COMMIT or
/// was aborted by the applier while it held a lock (a "brute-force abort"). Either way the
/// later writer of the row lost to the earlier committer, as a serialization failure does
/// (the SQLSTATE is 40001): it is classified so, with its code kept.
pub const CLUSTER_TABLE: ErrorTable = ErrorTable {
    code_of,
    sqlstate_of,
    class_of: class_on_cluster,
    label: "",
};

fn class_on_cluster(code: &str) -> ErrorClass {
    match code {
        "ER_LOCK_DEADLOCK" => rejected(Refusal::Serialization, true),
        _ => class_of(code),
    }
}

pub fn classify(err: &sqlx::Error) -> DbFailure {
    TABLE.classify(err)
}

/// The code counter gives error `number` (`ER_DUP_ENTRY` for 1062).
pub fn name_of(number: u16) -> &'static str {
    REFUSALS
        .iter()
        .find(|(n, ..)| *n == number)
        .map(|r| r.1)
        .or_else(|| UNAVAILABLE.iter().find(|(n, _)| *n == number).map(|u| u.1))
        .unwrap_or("")
}

/// MariaDB's own error number (1213 for a deadlock), which its SQLSTATEs blur.
pub fn number_of(db: &dyn DatabaseError) -> Option<u16> {
    Some(db.try_downcast_ref::<MySqlDatabaseError>()?.number())
}

fn code_of(db: &dyn DatabaseError) -> Option<String> {
    let number = number_of(db)?;
    let refusal = REFUSALS.iter().find(|(n, ..)| *n == number).map(|r| r.1);
    let unavailable = UNAVAILABLE.iter().find(|(n, _)| *n == number).map(|u| u.1);
    let name = refusal.or(unavailable);
    Some(name.map_or_else(|| format!("ER_{number}"), str::to_string))
}

fn sqlstate_of(db: &dyn DatabaseError) -> Option<String> {
    db.code().map(|code| code.into_owned())
}

fn class_of(code: &str) -> ErrorClass {
    if let Some((_, _, refusal)) = REFUSALS.iter().find(|(_, name, _)| *name == code) {
        // A statement that ran out of time would run out of time again.
        return rejected(*refusal, *refusal != Refusal::StatementTimeout);
    }
    if UNAVAILABLE.iter().any(|(_, name)| *name == code) {
        return ErrorClass::Unavailable;
    }
    ErrorClass::Internal
}
