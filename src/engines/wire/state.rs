//! The wire's state and settings as plain values: where the session's transaction is, which
//! autocommit statements it wraps in a transaction of their own, how it learns a user's
//! statement's effect on the transaction, how it asks for the server-side id.

use crate::methods::Guard;

/// Where the session's transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tx {
    /// None open: the connection may go back to its pool.
    Idle,
    /// Opened by the method behind `guard` (keyed by the id, for a key guard): until it is
    /// committed or rolled back and its guard let go.
    Open(Guard, i64),
    /// Opened by the wire around one autocommit statement (see [`Wrap`]).
    Wrapped,
}

/// Which statements outside a transaction the wire sends inside one of their own (`BEGIN`,
/// the statement, `COMMIT`: what autocommit does, made visible).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    /// None: autocommit as the database does it.
    Never,
    /// Those that write or lock: under an observer, so that the commit of an autocommit
    /// `UPDATE` is a step of its own (two of them can then overlap, as in a real race). A read
    /// that takes no lock holds nothing and leaves nothing behind: it stays one statement.
    Writes,
    /// Every read and write: through a transaction pooler, which may lend the server
    /// connection to another client between the two round trips of one statement (parse, then
    /// bind and execute) but not inside a transaction.
    ReadsAndWrites,
}

/// How the wire learns where a connection's transaction is after a user's statement.
#[derive(Debug, Clone, Copy)]
pub enum ReportBy {
    /// The link hears it (see [`Link::reported`](super::Link::reported)); when it cannot,
    /// the state is unknown.
    Link,
    /// A statement answering 1 inside a transaction and 0 outside (`SELECT @@in_transaction`),
    /// sent without the observer: it is the harness asking, not a step of the schedule.
    Query(&'static str),
}

/// How the wire asks an engine for its connection's server-side id.
#[derive(Debug, Clone, Copy)]
pub enum ServerIdQuery {
    /// A statement answering one integer (`SELECT pg_backend_pid()`).
    Ask(&'static str),
    /// The engine has no server (SQLite).
    None,
}
