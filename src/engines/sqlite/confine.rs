//! A SQLite connection lent to a user's script: confined by an authorizer to the counter's
//! tables, and asked directly (not through SQL) whether a transaction is open and to stop
//! the statement it runs.
//!
//! SQLite has no accounts and no privileges; what it has is `sqlite3_set_authorizer`, which
//! it consults for every action of every statement while preparing it. The authorizer here
//! allows reading and writing the rows of `counter`, `counter_shard` and `counter_ledger`,
//! selects, functions, recursive queries, transactions and savepoints, and denies the rest
//! (`PRAGMA`, `ATTACH`, schema changes, other tables): the statement then fails to prepare
//! with SQLite's "not authorized" (`SQLITE_AUTH`), at check time or for that request, and
//! nothing is run. Such a connection is closed after its request (see `wire.rs`).
//!
//! sqlx exposes the `sqlite3*` handle; the three C functions used are SQLite's own, linked
//! into the binary with the rest of the library.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr::NonNull;

use sqlx::sqlite::SqliteConnection;

unsafe extern "C" {
    fn sqlite3_get_autocommit(db: *mut c_void) -> c_int;
    fn sqlite3_interrupt(db: *mut c_void);
    fn sqlite3_set_authorizer(
        db: *mut c_void,
        authorizer: Option<
            unsafe extern "C" fn(
                *mut c_void,
                c_int,
                *const c_char,
                *const c_char,
                *const c_char,
                *const c_char,
            ) -> c_int,
        >,
        user_data: *mut c_void,
    ) -> c_int;
}

const SQLITE_OK: c_int = 0;
const SQLITE_DENY: c_int = 1;

// The authorizer's action codes (sqlite3.h).
const SQLITE_DELETE: c_int = 9;
const SQLITE_INSERT: c_int = 18;
const SQLITE_READ: c_int = 20;
const SQLITE_SELECT: c_int = 21;
const SQLITE_TRANSACTION: c_int = 22;
const SQLITE_UPDATE: c_int = 23;
const SQLITE_FUNCTION: c_int = 31;
const SQLITE_SAVEPOINT: c_int = 32;
const SQLITE_RECURSIVE: c_int = 33;

/// The tables a script may read and write.
const COUNTER_TABLES: [&str; 3] = ["counter", "counter_shard", "counter_ledger"];

/// The connection's `sqlite3*`. SQLite allows `sqlite3_interrupt` from any thread while a
/// statement runs; `sqlite3_get_autocommit` is read only between statements, when no other
/// thread uses the connection.
#[derive(Debug, Clone, Copy)]
pub struct RawHandle(NonNull<c_void>);

// SAFETY: see the type's comment: the two calls made through it are safe from any thread at
// the moments they are made, and the handle lives as long as the session's connection.
unsafe impl Send for RawHandle {}
unsafe impl Sync for RawHandle {}

impl RawHandle {
    /// Whether the connection is inside a transaction.
    pub fn in_transaction(self) -> bool {
        // SAFETY: a live handle (the session holds its connection), between statements.
        unsafe { sqlite3_get_autocommit(self.0.as_ptr()) == 0 }
    }

    /// Makes the running statement fail with SQLITE_INTERRUPT.
    pub fn interrupt(self) {
        // SAFETY: documented as safe from another thread while a statement runs.
        unsafe { sqlite3_interrupt(self.0.as_ptr()) }
    }
}

/// Installs the authorizer on `conn` and returns its handle.
pub async fn confine(conn: &mut SqliteConnection) -> Result<RawHandle, sqlx::Error> {
    let mut locked = conn.lock_handle().await?;
    let handle = locked.as_raw_handle().cast::<c_void>();
    // SAFETY: the handle is live; the callback is a plain function without user data.
    let status =
        unsafe { sqlite3_set_authorizer(handle.as_ptr(), Some(authorize), std::ptr::null_mut()) };
    if status != SQLITE_OK {
        return Err(sqlx::Error::Protocol(format!(
            "SQLite refused the authorizer ({status})"
        )));
    }
    Ok(RawHandle(handle))
}

/// SQLite's question: may this statement do `action` (on table `first`, for reads and
/// writes)?
unsafe extern "C" fn authorize(
    _user_data: *mut c_void,
    action: c_int,
    first: *const c_char,
    _second: *const c_char,
    _database: *const c_char,
    _trigger: *const c_char,
) -> c_int {
    let table = || {
        if first.is_null() {
            return None;
        }
        // SAFETY: SQLite passes a NUL-terminated string for these actions.
        unsafe { CStr::from_ptr(first) }.to_str().ok()
    };
    match action {
        SQLITE_SELECT | SQLITE_TRANSACTION | SQLITE_SAVEPOINT | SQLITE_FUNCTION
        | SQLITE_RECURSIVE => SQLITE_OK,
        SQLITE_READ | SQLITE_INSERT | SQLITE_UPDATE | SQLITE_DELETE
            if table().is_some_and(|table| COUNTER_TABLES.contains(&table)) =>
        {
            SQLITE_OK
        }
        _ => SQLITE_DENY,
    }
}
