//! Connection poolers between counter and PostgreSQL: how a pooler lends its server
//! connections, which decides what a session-level setting (the isolation level, a named
//! prepared statement) can survive.

use std::fmt;

/// How PgBouncer lends a server connection to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolMode {
    /// For the client's whole connection: session state stays the client's.
    Session,
    /// For one transaction (an autocommit statement is one): the next transaction of the same
    /// client may run on another server connection, and session state leaks between clients.
    Transaction,
}

impl PoolMode {
    /// PgBouncer's own word for it (`pool_mode = ...`).
    pub fn name(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

impl fmt::Display for PoolMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} pooling", self.name())
    }
}
