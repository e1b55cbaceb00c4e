//! A connection pooler between the increments and PostgreSQL: the one a run asks counter to
//! start, and the one a location leads through.

use sqlx::postgres::PgConnectOptions;

use crate::model::PoolMode;

/// A connection pooler in front of a PostgreSQL database: where the increments, and the
/// reading of the level they run at, connect. Migrations, resets and counts go to the
/// database directly (a transaction pooler would break sqlx's migration lock).
#[derive(Debug, Clone)]
pub struct Pooler {
    /// The pooler's address, user, password and database entry.
    pub options: PgConnectOptions,
    pub mode: PoolMode,
    /// Whether the pooler has an entry per level (`<database>_<level>`, see
    /// `engines/pgbouncer.rs`): the throwaway one does.
    pub level_entries: bool,
    /// For the results: "PgBouncer 1.18.0, transaction pooling".
    pub description: String,
    /// Connect as an application that does not know the pooler's traps (see
    /// `postgres/pooled.rs`): the level in the startup packet, named prepared statements,
    /// statements outside transactions sent as they are.
    pub as_application: bool,
}

/// What to put in front of a throwaway PostgreSQL cluster.
#[derive(Debug, Clone, Copy)]
pub struct PoolerRequest {
    pub mode: PoolMode,
    /// Server connections per database entry (the increments' pool and a few more).
    pub pool_size: u32,
    /// Let counter's increments connect as an unaware application would, through a PgBouncer
    /// told to ignore the startup parameter `options` (the usual way past its refusal).
    pub as_application: bool,
}
