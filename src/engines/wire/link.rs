//! The connection under a wire, as each engine gives it: the sqlx connection, its row counts,
//! how to keep it from its pool, and what it hears of its transaction.

use sqlx::Database;

/// A connection a session holds, as the wire needs it: the sqlx connection, how its engine
/// counts the rows a statement wrote, and how to keep it from going back to its pool.
pub trait Link: Send {
    type Db: Database;
    fn connection(&mut self) -> &mut <Self::Db as Database>::Connection;
    /// Rows written, from the engine's result of an `execute`.
    fn rows_written(result: &<Self::Db as Database>::QueryResult) -> u64;
    /// Told of every error; a link that can tell a broken connection (I/O, the server
    /// shutting down) from a refused statement marks it for dropping.
    fn failed(&mut self, _err: &sqlx::Error) {}
    /// Closes this connection instead of giving it back (it is in a state no one else may
    /// inherit, such as an open transaction); the others are not affected.
    fn discard(&mut self);
    /// A user's script ran on this connection: whatever it left there (settings, temporary
    /// tables, session locks) must not reach the next request. Closing it is always safe;
    /// a link that can reset its connection as good as new does that instead.
    fn forget_foreign(&mut self) {
        self.discard();
    }
    /// Where the connection's transaction is, as the engine reported it without being asked
    /// (PostgreSQL's `ReadyForQuery` through the relay, SQLite's autocommit flag), and the
    /// transaction commands reported since the last call; None where the link cannot tell
    /// (the wire then asks with its report statement, if it has one).
    fn reported(&mut self) -> Option<Reported> {
        None
    }
}

/// What a link or a report statement says of the connection's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub open: bool,
    /// Transaction commands completed (their tags), where the engine names them.
    pub control: Vec<String>,
}
