//! Database access: where the database is (configured or throwaway) and how to provision it;
//! each engine's connections in its own module (`postgres`, `mariadb`, `sqlite`), the
//! throwaway servers (`cluster`, `mariadb`), and what errors mean (`errors`).

mod binaries;
pub mod capabilities;
pub mod cluster;
pub mod connections;
pub mod errors;
pub mod mariadb;
pub mod postgres;
mod process;
pub mod sqlite;

use std::path::PathBuf;
use std::time::Duration;

use sqlx::Executor;
use sqlx::postgres::PgConnectOptions;

use crate::cli::DatabaseArgs;
use crate::config::{self, ConfigError, DatabaseTarget};
use crate::engine::Engine;
pub use cluster::{ClusterError, LocalCluster};
pub use connections::Connections;
pub use postgres::{
    Database, connect, connect_as, idle_in_transaction, settle_idle_in_transaction,
};

/// The database a throwaway cluster creates, named like the original's POSTGRES_DB default.
pub const DEFAULT_DATABASE: &str = "counter";

/// How long a request waits for a pooled connection before it is answered 503.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("could not connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("could not apply the migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the throwaway cluster's startup task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("SQLite: {0}")]
    Sqlite(String),
}

/// Where a run's database is.
#[derive(Debug, Clone)]
pub enum Location {
    /// PostgreSQL, or an engine that speaks its protocol (CockroachDB, YugabyteDB).
    Postgres {
        options: Box<PgConnectOptions>,
        engine: Engine,
    },
    Sqlite(PathBuf),
    Mariadb(Box<sqlx::mysql::MySqlConnectOptions>),
}

impl Location {
    /// The URL to show humans: never the password.
    pub fn display_url(&self) -> String {
        match self {
            Location::Postgres { options, .. } => config::redact_url(options),
            Location::Sqlite(path) => format!("sqlite://{}", path.display()),
            Location::Mariadb(options) => format!(
                "mysql://{}@{}",
                options.get_username(),
                options
                    .get_socket()
                    .map(|s| s.display().to_string())
                    .unwrap_or_else(|| format!("{}:{}", options.get_host(), options.get_port()))
            ),
        }
    }
}

/// A database ready to be connected to, and what is throwaway behind it (dropping this stops
/// the cluster and deletes the files).
#[derive(Debug)]
pub struct Provisioned {
    pub location: Location,
    pub cluster: Option<LocalCluster>,
    pub sqlite_file: Option<sqlite::SqliteFile>,
    pub mariadb: Option<mariadb::LocalMariaDb>,
}

impl Provisioned {
    /// The URL to show humans: never the password.
    pub fn display_url(&self) -> String {
        self.location.display_url()
    }

    /// Whether the database is ours to throw away (a cluster or a file we made).
    pub fn is_throwaway(&self) -> bool {
        self.cluster.is_some() || self.sqlite_file.is_some() || self.mariadb.is_some()
    }

    /// Stops the throwaway cluster now (and deletes its directory), if there is one. Blocks
    /// for the duration of PostgreSQL's fast shutdown: only call it on the way out.
    pub fn shutdown(&mut self) {
        if let Some(mut cluster) = self.cluster.take() {
            cluster.stop();
        }
        self.sqlite_file = None;
        if let Some(mut server) = self.mariadb.take() {
            server.stop();
        }
    }
}

/// Resolves the configured database, or makes a throwaway one: a PostgreSQL cluster with its
/// database, or a SQLite file.
pub async fn provision(engine: Engine, args: &DatabaseArgs) -> Result<Provisioned, DbError> {
    if engine == Engine::Sqlite {
        if args.database_url.is_some() {
            return Err(DbError::Config(ConfigError::UrlWithSqlite));
        }
        let file = sqlite::SqliteFile::create()
            .map_err(|err| DbError::Sqlite(format!("could not create its directory: {err}")))?;
        return Ok(Provisioned {
            location: Location::Sqlite(file.path()),
            cluster: None,
            sqlite_file: Some(file),
            mariadb: None,
        });
    }
    if engine == Engine::Mariadb {
        return provision_mariadb(args).await;
    }
    match config::database_target(args)? {
        DatabaseTarget::Configured(options) => Ok(Provisioned {
            location: Location::Postgres { options, engine },
            cluster: None,
            sqlite_file: None,
            mariadb: None,
        }),
        DatabaseTarget::Throwaway => {
            if let Some(example) = engine.url_example() {
                let name = engine.product();
                return Err(DbError::Config(ConfigError::NeedsUrl(name, example)));
            }
            let cluster = tokio::task::spawn_blocking(LocalCluster::start).await??;
            let admin = cluster.connect_options("postgres");
            create_database(&admin, DEFAULT_DATABASE).await?;
            Ok(Provisioned {
                location: Location::Postgres {
                    options: Box::new(cluster.connect_options(DEFAULT_DATABASE)),
                    engine,
                },
                cluster: Some(cluster),
                sqlite_file: None,
                mariadb: None,
            })
        }
    }
}

/// Creates `name` through the `admin` connection. The name is one of our own identifiers,
/// checked here, so formatting it into the statement is safe.
pub async fn create_database(admin: &PgConnectOptions, name: &str) -> Result<(), DbError> {
    assert_identifier(name);
    let mut conn = connect_one(admin).await?;
    let sql = format!("CREATE DATABASE \"{name}\"");
    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
    Ok(())
}

fn assert_identifier(name: &str) {
    assert!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "database names are internal identifiers"
    );
}

async fn connect_one(options: &PgConnectOptions) -> Result<sqlx::PgConnection, DbError> {
    use sqlx::ConnectOptions;
    options
        .connect()
        .await
        .map_err(|err| connect_error(options, &err))
}

fn connect_error(options: &PgConnectOptions, err: &sqlx::Error) -> DbError {
    DbError::Connect {
        url: config::redact_url(options),
        reason: errors::describe(err),
    }
}

/// The migrations; for CockroachDB and YugabyteDB without sqlx's `pg_advisory_lock` around
/// them (a no-op stub or a missing function there). Two servers migrating the same empty
/// database at the same instant are then protected only by `CREATE TABLE IF NOT EXISTS`.
pub(crate) fn migrator(engine: Engine) -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!();
    migrator.set_locking(!matches!(engine, Engine::Cockroach | Engine::Yugabyte));
    migrator
}

/// Asks `count_idle` until it answers 0 or `patience` runs out; returns its last answer.
pub(crate) async fn settle<F, Fut>(
    patience: Duration,
    mut count_idle: F,
) -> Result<i64, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<i64, sqlx::Error>>,
{
    let started = std::time::Instant::now();
    loop {
        let idle = count_idle().await?;
        if idle == 0 || started.elapsed() >= patience {
            return Ok(idle);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// MariaDB: the `mysql://` URL given, or a throwaway server with its `counter` database.
async fn provision_mariadb(args: &DatabaseArgs) -> Result<Provisioned, DbError> {
    if let Some(url) = args
        .database_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        let options = config::parse_mysql_url(url)?;
        return Ok(Provisioned {
            location: Location::Mariadb(Box::new(options)),
            cluster: None,
            sqlite_file: None,
            mariadb: None,
        });
    }
    let server = tokio::task::spawn_blocking(mariadb::LocalMariaDb::start).await??;
    let admin = server.connect_options().database("mysql");
    let mut conn = {
        use sqlx::ConnectOptions;
        admin.connect().await?
    };
    conn.execute("CREATE DATABASE counter").await?;
    Ok(Provisioned {
        location: Location::Mariadb(Box::new(server.connect_options())),
        cluster: None,
        sqlite_file: None,
        mariadb: Some(server),
    })
}

/// Whether MariaDB can be used without further setup: a mysql:// URL, or the server binaries.
pub fn mariadb_available(args: &DatabaseArgs) -> bool {
    args.database_url
        .as_deref()
        .is_some_and(|u| u.starts_with("mysql://") || u.starts_with("mariadb://"))
        || mariadb::find_binaries().is_some()
}

/// Whether PostgreSQL can be used without further setup: a database is configured, or the
/// server binaries for a throwaway cluster are installed.
pub fn postgres_available(args: &DatabaseArgs) -> bool {
    matches!(
        config::database_target(args),
        Ok(DatabaseTarget::Configured(_))
    ) || cluster::find_server_binaries().is_some()
}
