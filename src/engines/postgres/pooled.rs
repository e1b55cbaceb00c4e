//! How a run's isolation level and statements reach PostgreSQL, directly or through a
//! connection pooler. Directly, the level travels in the startup packet (`options`), so every
//! statement of every connection has it. PgBouncer 1.18 refuses that parameter ("unsupported
//! startup parameter: options") in every pool mode, and in transaction pooling a session-level
//! `SET` stays on the server connection for whichever client gets it next. So:
//!
//! | scope \ pooler | session pooling | transaction pooling |
//! |---|---|---|
//! | session (every statement) | the level's database entry, or `SET SESSION CHARACTERISTICS` once per connection | the level's database entry (its `connect_query` sets the level on each server connection); without one: refused |
//! | transaction | `BEGIN ISOLATION LEVEL ...` | `BEGIN ISOLATION LEVEL ...` |
//!
//! Named prepared statements are a second trap of transaction pooling (PgBouncer supports them
//! from 1.21): a statement prepared on one server connection is missing on the next, and two
//! clients' `sqlx_s_1` collide. Through it, counter sends unnamed statements only.

use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;

use crate::engines::patroni::HaView;

use crate::engines::options::OpenOptions;
use crate::engines::pgbouncer::level_database;
use crate::engines::pooler::Pooler;
use crate::engines::shared::DbError;
use crate::model::{Isolation, IsolationScope, PoolMode};

/// Where and how the increments' connections connect.
#[derive(Debug, Clone)]
pub struct Route {
    pub options: PgConnectOptions,
    /// Sent once on each new connection.
    pub after_connect: Option<&'static str>,
    /// Whether statements may be named and kept on the connection.
    pub persistent: bool,
    /// A replicated cluster: each new connection goes to its current primary.
    pub follow: Option<Arc<HaView>>,
}

/// The route of a run's increments to the database at `direct`, through `pooler` if any.
pub fn route(
    direct: &PgConnectOptions,
    pooler: Option<&Pooler>,
    open: &OpenOptions,
) -> Result<Route, DbError> {
    let level = open.isolation;
    let Some(pooler) = pooler else {
        return Ok(Route {
            options: with_level(direct, open),
            after_connect: None,
            persistent: true,
            follow: None,
        });
    };
    if pooler.as_application {
        // As an application that does not know the traps: the level in the startup packet
        // (dropped by a PgBouncer that ignores `options`), named statements kept.
        return Ok(Route {
            options: with_level(&pooler.options, open),
            after_connect: None,
            persistent: true,
            follow: None,
        });
    }
    let persistent = pooler.mode == PoolMode::Session;
    let mut options = pooler.options.clone();
    if !persistent {
        options = options.statement_cache_capacity(0);
    }
    let mut after_connect = None;
    if open.scope == IsolationScope::Session {
        if pooler.level_entries {
            let entry = level_database(options.get_database().unwrap_or("counter"), level);
            options = options.database(&entry);
        } else if pooler.mode == PoolMode::Session {
            after_connect = Some(set_session_level(level));
        } else {
            return Err(DbError::Pooler(format!(
                "through {}, a session-level isolation cannot reach every statement: \
                 use --isolation-scope transaction, or give the pooler a database entry per \
                 level whose connect_query sets it",
                pooler.description
            )));
        }
    }
    Ok(Route {
        options,
        after_connect,
        persistent,
        follow: None,
    })
}

/// `direct` with the run's level for every statement of every connection, when the scope
/// says so.
pub fn with_level(direct: &PgConnectOptions, open: &OpenOptions) -> PgConnectOptions {
    let options = match open.scope {
        IsolationScope::Session => direct
            .clone()
            .options([("default_transaction_isolation", open.isolation.sql_name())]),
        IsolationScope::Transaction => direct.clone(),
    };
    let millis = |wait: std::time::Duration| format!("{}ms", wait.as_millis().max(1));
    let options = match open.statement_timeout {
        Some(limit) => options.options([("statement_timeout", millis(limit))]),
        None => options,
    };
    let Some(waits) = open.waits else {
        return options;
    };
    let options = options.options([("lock_timeout", millis(waits.lock_timeout))]);
    match waits.deadlock_timeout {
        Some(deadlock) => options.options([("deadlock_timeout", millis(deadlock))]),
        None => options,
    }
}

/// The session's level for the transactions to come (fixed text per level).
fn set_session_level(level: Isolation) -> &'static str {
    match level {
        Isolation::ReadUncommitted => {
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED"
        }
        Isolation::ReadCommitted => {
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"
        }
        Isolation::RepeatableRead => {
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ"
        }
        Isolation::Serializable => {
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooler(mode: PoolMode, level_entries: bool) -> Pooler {
        Pooler {
            options: PgConnectOptions::new_without_pgpass().database("counter"),
            mode,
            level_entries,
            description: "a pooler".into(),
            as_application: false,
        }
    }

    #[test]
    fn each_scope_reaches_the_database_through_each_pool_mode() {
        use IsolationScope::{Session, Transaction};
        use PoolMode::{Session as Pooling, Transaction as Tx};
        let direct = PgConnectOptions::new_without_pgpass().database("counter");
        // (mode, level entries, scope) -> database, after-connect, persistent; None: refused.
        type Expected = Option<(&'static str, bool, bool)>;
        let cases: [(PoolMode, bool, IsolationScope, Expected); 8] = [
            (
                Pooling,
                true,
                Session,
                Some(("counter_serializable", false, true)),
            ),
            (Pooling, false, Session, Some(("counter", true, true))),
            (Pooling, true, Transaction, Some(("counter", false, true))),
            (Pooling, false, Transaction, Some(("counter", false, true))),
            (
                Tx,
                true,
                Session,
                Some(("counter_serializable", false, false)),
            ),
            (Tx, false, Session, None),
            (Tx, true, Transaction, Some(("counter", false, false))),
            (Tx, false, Transaction, Some(("counter", false, false))),
        ];
        for (mode, entries, scope, expected) in cases {
            let mut open = OpenOptions::new(Isolation::Serializable, 4);
            open.scope = scope;
            let route = route(&direct, Some(&pooler(mode, entries)), &open);
            let got = route.ok().map(|r| {
                let database = r.options.get_database().unwrap_or("").to_string();
                (database, r.after_connect.is_some(), r.persistent)
            });
            let expected =
                expected.map(|(db, after, persistent)| (db.to_string(), after, persistent));
            assert_eq!(got, expected, "{mode:?} entries={entries} {scope:?}");
        }
        let direct_route =
            route(&direct, None, &OpenOptions::new(Isolation::Serializable, 4)).unwrap();
        assert!(direct_route.persistent && direct_route.after_connect.is_none());
    }
}
