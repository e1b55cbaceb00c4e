//! Database access: where the database is (configured or throwaway), the pool with the run's
//! isolation level, migrations, and what the server reports about itself.

mod binaries;
pub mod capabilities;
pub mod cluster;
pub mod connections;
pub mod errors;
pub mod mariadb;
mod process;
pub mod sqlite;

use std::path::PathBuf;
use std::time::Duration;

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::cli::{DatabaseArgs, Isolation};
use crate::config::{self, ConfigError, DatabaseTarget};
use crate::engine::Engine;
pub use cluster::{ClusterError, LocalCluster};
pub use connections::Connections;

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

/// How many connections the pool for everything but increments (reads, resets, health
/// checks, migrations) may open.
const SIDE_POOL_SIZE: u32 = 2;

/// Connections at one isolation level, and what the database says about it.
#[derive(Debug, Clone)]
pub struct Database {
    /// The connections increments run on (`pool_size` of them).
    pub connections: Connections,
    /// A small sqlx pool at the same level for everything else.
    pub pool: PgPool,
    /// PostgreSQL, or the PostgreSQL-protocol engine behind the URL.
    pub engine: Engine,
    pub isolation: Isolation,
    /// The level transactions really run at, read inside one (CockroachDB and YugabyteDB run
    /// some levels as stronger ones).
    pub effective_isolation: String,
    pub server_version: String,
    pub pool_size: u32,
    /// Methods whose guard this database refuses or does not enforce (probed at connect).
    pub unsupported: Vec<capabilities::Unsupported>,
}

/// [`connect_as`] for PostgreSQL itself.
pub async fn connect(
    options: &PgConnectOptions,
    isolation: Isolation,
    pool_size: u32,
) -> Result<Database, DbError> {
    connect_as(Engine::Postgres, options, isolation, pool_size).await
}

/// Opens the pool with `default_transaction_isolation` set on every connection (so method 3's
/// implicit transactions obey it too), applies the migrations, reads back the level and
/// probes which methods the database can really run.
pub async fn connect_as(
    engine: Engine,
    options: &PgConnectOptions,
    isolation: Isolation,
    pool_size: u32,
) -> Result<Database, DbError> {
    let pooled = options
        .clone()
        .options([("default_transaction_isolation", isolation.sql_name())]);
    let pool = PgPoolOptions::new()
        .max_connections(SIDE_POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(pooled.clone())
        .await
        .map_err(|err| connect_error(&pooled, &err))?;
    migrator(engine).run(&pool).await?;
    let effective_isolation = first_answer(&pool, effective_isolation_queries(engine)).await?;
    let server_version = first_answer(&pool, server_version_queries(engine)).await?;
    let unsupported = capabilities::probe(options).await?;
    Ok(Database {
        connections: Connections::new(pooled, pool_size, ACQUIRE_TIMEOUT),
        pool,
        engine,
        isolation,
        effective_isolation,
        server_version,
        pool_size,
        unsupported,
    })
}

/// The migrations; for CockroachDB and YugabyteDB without sqlx's `pg_advisory_lock` around
/// them (a no-op stub or a missing function there). Two servers migrating the same empty
/// database at the same instant are then protected only by `CREATE TABLE IF NOT EXISTS`.
pub(crate) fn migrator(engine: Engine) -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!();
    migrator.set_locking(!matches!(engine, Engine::Cockroach | Engine::Yugabyte));
    migrator
}

/// How to ask each engine which level its transactions really run at, best first.
/// YugabyteDB answers `SHOW transaction_isolation` with the level asked for even when it runs
/// read committed as snapshot (its `yb_enable_read_committed_isolation` flag is off).
fn effective_isolation_queries(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Yugabyte => &[
            "SELECT yb_get_effective_transaction_isolation_level()",
            "SHOW yb_effective_transaction_isolation_level",
            "SHOW transaction_isolation",
        ],
        _ => &["SHOW transaction_isolation"],
    }
}

/// How to ask for the server's version: CockroachDB's `server_version` is the PostgreSQL
/// version it imitates, its own is in `version()`.
fn server_version_queries(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Cockroach => &["SELECT split_part(version(), ' (', 1)"],
        _ => &["SHOW server_version"],
    }
}

/// The answer of the first query that works, each asked inside a transaction of its own (the
/// level of a transaction, not of the session, is what an engine may upgrade); the last
/// query's error if none does.
async fn first_answer(pool: &PgPool, queries: &[&'static str]) -> Result<String, sqlx::Error> {
    let mut last_error = None;
    for &query in queries {
        let mut tx = pool.begin().await?;
        let answer = sqlx::query_scalar::<_, String>(query)
            .fetch_one(&mut *tx)
            .await;
        tx.rollback().await?;
        match answer {
            Ok(answer) => return Ok(answer),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or(sqlx::Error::RowNotFound))
}

/// Sessions of this database left "idle in transaction" (other than the asking one): after a
/// run there must be none, or a transaction was abandoned mid-way.
pub async fn idle_in_transaction(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(pool)
    .await
}

/// Waits up to `patience` for abandoned-looking transactions to finish (a request whose client
/// gave up may still be completing); returns how many are still idle in transaction.
pub async fn settle_idle_in_transaction(
    pool: &PgPool,
    patience: Duration,
) -> Result<i64, sqlx::Error> {
    settle(patience, || idle_in_transaction(pool)).await
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
