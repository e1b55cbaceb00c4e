//! Database engines: which one a run uses, what each can express, and the [`Backend`] that
//! the server talks to (the engine's pool, its increment methods, its dialect of the few
//! reads and resets the API offers).

use std::time::Duration;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use sqlx::{MySqlPool, SqlitePool};

use crate::cli::Isolation;
use crate::db::mariadb::MariaDatabase;
use crate::db::sqlite::SqliteDatabase;
use crate::db::{self, Database, DbError, Location};
use crate::methods::retry::{self, Attempted, RetryPolicy};
use crate::methods::{self, MethodContext, MethodError, MethodId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// PostgreSQL: a throwaway cluster, or DATABASE_URL.
    Postgres,
    /// SQLite, embedded: a throwaway database file.
    Sqlite,
    /// MariaDB (InnoDB): a throwaway server, or a mysql:// DATABASE_URL.
    Mariadb,
    /// CockroachDB, through PostgreSQL's protocol and driver: only at a configured URL.
    Cockroach,
    /// YugabyteDB's YSQL, through PostgreSQL's protocol and driver: only at a configured URL.
    Yugabyte,
}

impl Engine {
    /// The name in results (the CSV's `engine` column).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgresql",
            Engine::Sqlite => "sqlite",
            Engine::Mariadb => "mariadb",
            Engine::Cockroach => "cockroachdb",
            Engine::Yugabyte => "yugabytedb",
        }
    }

    /// The product's own spelling, for messages.
    pub fn product(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::Sqlite => "SQLite",
            Engine::Mariadb => "MariaDB",
            Engine::Cockroach => "CockroachDB",
            Engine::Yugabyte => "YugabyteDB",
        }
    }

    /// For engines this machine cannot start: an example of the URL to give instead.
    pub fn url_example(self) -> Option<&'static str> {
        match self {
            Engine::Cockroach => Some("postgresql://root@127.0.0.1:26257/defaultdb"),
            Engine::Yugabyte => Some("postgresql://yugabyte@127.0.0.1:5433/yugabyte"),
            Engine::Postgres | Engine::Sqlite | Engine::Mariadb => None,
        }
    }

    /// Why the engine cannot run `method`, if it cannot.
    pub fn method_not_applicable(self, method: MethodId) -> Option<&'static str> {
        match self {
            Engine::Postgres | Engine::Mariadb | Engine::Cockroach | Engine::Yugabyte => None,
            Engine::Sqlite => methods::sqlite::not_applicable(method),
        }
    }

    /// What `method` does on this engine, for `/api/v1/info` and the root page.
    pub fn method_info(self, method: MethodId) -> methods::MethodInfo {
        let mut info = method.info();
        let own = match self {
            Engine::Postgres | Engine::Cockroach | Engine::Yugabyte => None,
            Engine::Sqlite => methods::sqlite::summary(method),
            Engine::Mariadb => methods::mariadb::summary(method),
        };
        if let Some(summary) = own {
            info.summary = summary;
        }
        info
    }

    /// Why the engine has no such isolation level to test, if it has not.
    pub fn level_not_applicable(self, level: Isolation) -> Option<&'static str> {
        match (self, level) {
            // The PostgreSQL-protocol engines accept every level and may run it as another
            // (CockroachDB, YugabyteDB): the effective level read back says which.
            (Engine::Sqlite, Isolation::Serializable)
            | (Engine::Postgres | Engine::Mariadb | Engine::Cockroach | Engine::Yugabyte, _) => {
                None
            }
            (Engine::Sqlite, _) => Some(
                "SQLite runs every transaction serializable (read uncommitted exists only in its shared-cache mode)",
            ),
        }
    }
}

/// A counter row as the API shows it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CountRow {
    pub id: i64,
    pub count: i64,
}

/// The server's side of one engine.
#[derive(Debug)]
pub enum Backend {
    Postgres {
        db: Database,
        methods: MethodContext,
    },
    Sqlite {
        db: SqliteDatabase,
        methods: MethodContext<SqlitePool>,
        /// The isolation level the run asked for (SQLite always runs serializable).
        requested: Isolation,
    },
    Mariadb {
        db: MariaDatabase,
        methods: MethodContext<MySqlPool>,
    },
}

/// What `/api/v1/info` reports about the backend.
#[derive(Debug, Clone)]
pub struct Description {
    pub engine: Engine,
    pub isolation: String,
    pub effective_isolation: String,
    pub server_version: String,
    pub pool_size: u32,
}

/// Runs the expression for the backend's engine with `$pool` bound to its pool (the SQL text
/// differs by placeholder style, the pool types differ, the logic does not).
macro_rules! on_pool {
    ($backend:expr, $pool:ident, $pg:expr, $lite:expr, $my:expr) => {
        match $backend {
            Backend::Postgres { db, .. } => {
                let $pool = &db.pool;
                $pg
            }
            Backend::Sqlite { db, .. } => {
                let $pool = &db.pool;
                $lite
            }
            Backend::Mariadb { db, .. } => {
                let $pool = &db.pool;
                $my
            }
        }
    };
}

impl Backend {
    pub fn postgres(db: Database, think: Duration) -> Backend {
        let methods = MethodContext::new(db.connections.clone(), think);
        Backend::Postgres { db, methods }
    }

    pub fn sqlite(db: SqliteDatabase, requested: Isolation, think: Duration) -> Backend {
        let methods = MethodContext::new(db.pool.clone(), think);
        Backend::Sqlite {
            db,
            methods,
            requested,
        }
    }

    /// Opens a pool on `location` at `level` (PostgreSQL: on every connection; SQLite: always
    /// serializable, the request is only recorded).
    pub async fn open(
        location: &Location,
        level: Isolation,
        pool_size: u32,
        think: Duration,
    ) -> Result<Backend, DbError> {
        Ok(match location {
            Location::Postgres { options, engine } => Backend::postgres(
                db::connect_as(*engine, options, level, pool_size).await?,
                think,
            ),
            Location::Sqlite(path) => {
                Backend::sqlite(db::sqlite::connect(path, pool_size).await?, level, think)
            }
            Location::Mariadb(options) => {
                let db = db::mariadb::connect(options, level, pool_size).await?;
                let methods = MethodContext::new(db.pool.clone(), think);
                Backend::Mariadb { db, methods }
            }
        })
    }

    /// Sessions left idle in transaction after a run (PostgreSQL's `pg_stat_activity`,
    /// MariaDB's InnoDB transactions of sleeping sessions; SQLite has no server sessions, and
    /// its transactions live in our own pooled connections).
    pub async fn settle_idle_in_transaction(&self, patience: Duration) -> Result<i64, sqlx::Error> {
        match self {
            Backend::Postgres { db, .. } => {
                db::settle_idle_in_transaction(&db.pool, patience).await
            }
            Backend::Mariadb { db, .. } => {
                db::settle(patience, || db::mariadb::idle_in_transaction(&db.pool)).await
            }
            Backend::Sqlite { .. } => Ok(0),
        }
    }

    pub fn engine(&self) -> Engine {
        match self {
            Backend::Postgres { db, .. } => db.engine,
            Backend::Sqlite { .. } => Engine::Sqlite,
            Backend::Mariadb { .. } => Engine::Mariadb,
        }
    }

    pub fn think(&self) -> Duration {
        match self {
            Backend::Postgres { methods, .. } => methods.think,
            Backend::Sqlite { methods, .. } => methods.think,
            Backend::Mariadb { methods, .. } => methods.think,
        }
    }

    /// Why this database cannot run `method`, if it cannot: the engine's known gaps, and on
    /// the PostgreSQL-protocol engines what the connect-time probes found.
    pub fn not_applicable(&self, method: MethodId) -> Option<String> {
        if let Some(reason) = self.engine().method_not_applicable(method) {
            return Some(reason.to_string());
        }
        match self {
            Backend::Postgres { db, .. } => db
                .unsupported
                .iter()
                .find(|gap| gap.method == method)
                .map(|gap| gap.reason.clone()),
            Backend::Sqlite { .. } | Backend::Mariadb { .. } => None,
        }
    }

    /// One increment with the policy's retries.
    pub async fn increment(&self, method: MethodId, policy: RetryPolicy) -> Attempted {
        match self {
            Backend::Postgres { methods, .. } => {
                if let Some(reason) = self.not_applicable(method) {
                    // Nothing is tried: the guard would be refused, or would not guard.
                    return Attempted {
                        result: Err(MethodError::NotApplicable(reason)),
                        attempts: 0,
                    };
                }
                retry::increment(method, methods, policy).await
            }
            Backend::Sqlite { methods, .. } => {
                retry::with_retry(policy, || methods::sqlite::increment(method, methods)).await
            }
            Backend::Mariadb { methods, .. } => {
                retry::with_retry(policy, || methods::mariadb::increment(method, methods)).await
            }
        }
    }

    pub async fn list_counts(&self) -> Result<Vec<CountRow>, sqlx::Error> {
        const SQL: &str = "SELECT id, count FROM counter ORDER BY id";
        on_pool!(
            self,
            pool,
            sqlx::query_as(SQL).fetch_all(pool).await,
            sqlx::query_as(SQL).fetch_all(pool).await,
            sqlx::query_as(SQL).fetch_all(pool).await
        )
    }

    pub async fn get_count(&self, id: i64) -> Result<Option<CountRow>, sqlx::Error> {
        on_pool!(
            self,
            pool,
            sqlx::query_as("SELECT id, count FROM counter WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await,
            sqlx::query_as("SELECT id, count FROM counter WHERE id = ?1")
                .bind(id)
                .fetch_optional(pool)
                .await,
            sqlx::query_as("SELECT id, count FROM counter WHERE id = ?")
                .bind(id)
                .fetch_optional(pool)
                .await
        )
    }

    /// Deletes one row, or all of them; returns how many went.
    pub async fn delete(&self, id: Option<i64>) -> Result<u64, sqlx::Error> {
        let deleted = match id {
            Some(id) => on_pool!(
                self,
                pool,
                sqlx::query("DELETE FROM counter WHERE id = $1")
                    .bind(id)
                    .execute(pool)
                    .await?
                    .rows_affected(),
                sqlx::query("DELETE FROM counter WHERE id = ?1")
                    .bind(id)
                    .execute(pool)
                    .await?
                    .rows_affected(),
                sqlx::query("DELETE FROM counter WHERE id = ?")
                    .bind(id)
                    .execute(pool)
                    .await?
                    .rows_affected()
            ),
            None => on_pool!(
                self,
                pool,
                sqlx::query("DELETE FROM counter")
                    .execute(pool)
                    .await?
                    .rows_affected(),
                sqlx::query("DELETE FROM counter")
                    .execute(pool)
                    .await?
                    .rows_affected(),
                sqlx::query("DELETE FROM counter")
                    .execute(pool)
                    .await?
                    .rows_affected()
            ),
        };
        Ok(deleted)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(
            self,
            pool,
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
        )
    }

    pub async fn close(&self) {
        if let Backend::Postgres { db, .. } = self {
            db.connections.close().await;
        }
        on_pool!(
            self,
            pool,
            pool.close().await,
            pool.close().await,
            pool.close().await
        )
    }

    pub fn describe(&self) -> Description {
        match self {
            Backend::Postgres { db, .. } => Description {
                engine: db.engine,
                isolation: db.isolation.sql_name().to_string(),
                effective_isolation: db.effective_isolation.clone(),
                server_version: db.server_version.clone(),
                pool_size: db.connections.size(),
            },
            Backend::Mariadb { db, .. } => Description {
                engine: Engine::Mariadb,
                isolation: db.isolation.sql_name().to_string(),
                effective_isolation: db.effective_isolation.clone(),
                server_version: db.version.clone(),
                pool_size: db.pool_size,
            },
            Backend::Sqlite { db, requested, .. } => Description {
                engine: Engine::Sqlite,
                isolation: requested.sql_name().to_string(),
                effective_isolation: Isolation::Serializable.sql_name().to_string(),
                server_version: db.version.clone(),
                pool_size: db.pool_size,
            },
        }
    }
}
