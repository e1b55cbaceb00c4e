//! The database engines, one folder each: connecting, the methods' statements in the engine's
//! SQL (`session.rs`), its error-code table (`errors.rs`), its throwaway server, and what it
//! cannot run ([`not_applicable`]). [`Backend`] is what the server talks to, whatever the
//! engine. Adding an engine: a folder here, a variant of [`Engine`] and arms in the matches
//! of this module and `backend.rs`.
//!
//! The nouns: a [`Location`] says where a database is; [`Provisioned`] is a location plus the
//! throwaway server or file behind it (removed when dropped); a [`Backend`] is one server
//! run's connections to it at one isolation level.

mod backend;
pub mod errors;
pub mod mariadb;
pub mod postgres;
mod reads;
pub mod sqlite;
pub mod supervise;

use std::path::PathBuf;
use std::time::Duration;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;

use crate::model::{Engine, Isolation, MethodId};
pub use backend::{Backend, Description};
pub use supervise::ThrowawayError;

/// The database a throwaway cluster creates, named like the original's POSTGRES_DB default.
pub const DEFAULT_DATABASE: &str = "counter";

/// How long a request waits for a pooled connection before it is answered 503.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Throwaway(#[from] ThrowawayError),
    #[error("could not connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("could not apply the migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the throwaway server's startup task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("SQLite: {0}")]
    Sqlite(String),
    #[error(
        "{0} cannot be started here: give its address with --database-url (DATABASE_URL), e.g. {1}"
    )]
    NeedsUrl(&'static str, &'static str),
}

/// Where a run's database is.
#[derive(Debug, Clone)]
pub enum Location {
    /// PostgreSQL, or an engine that speaks its protocol (CockroachDB, YugabyteDB).
    Postgres {
        options: Box<PgConnectOptions>,
        engine: Engine,
    },
    Mariadb(Box<MySqlConnectOptions>),
    Sqlite(PathBuf),
}

impl Location {
    /// The URL to show humans: never the password.
    pub fn display_url(&self) -> String {
        match self {
            Location::Postgres { options, .. } => postgres::redact_url(options),
            Location::Sqlite(path) => format!("sqlite://{}", path.display()),
            Location::Mariadb(options) => mariadb::redact(options),
        }
    }
}

/// What is throwaway behind a location: stopped and deleted when dropped.
#[derive(Debug)]
pub enum Throwaway {
    Postgres(postgres::LocalCluster),
    Mariadb(mariadb::LocalMariaDb),
    Sqlite(sqlite::SqliteFile),
}

impl Throwaway {
    /// The server's (or file's) directory.
    pub fn dir(&self) -> PathBuf {
        match self {
            Throwaway::Postgres(cluster) => cluster.dir().to_path_buf(),
            Throwaway::Mariadb(server) => server.dir().to_path_buf(),
            Throwaway::Sqlite(file) => file.path(),
        }
    }
}

/// A database ready to be connected to, and what is throwaway behind it.
#[derive(Debug)]
pub struct Provisioned {
    pub location: Location,
    pub throwaway: Option<Throwaway>,
}

impl Provisioned {
    /// The URL to show humans: never the password.
    pub fn display_url(&self) -> String {
        self.location.display_url()
    }

    /// Stops the throwaway server now (and deletes its directory), if there is one. Blocks
    /// for the duration of the server's shutdown: only call it on the way out.
    pub fn shutdown(&mut self) {
        self.throwaway = None;
    }
}

/// Why `engine` cannot run `method` at `level` (with `None`, why it has no such level), if it
/// cannot. Engines that only show it once connected (CockroachDB, YugabyteDB) add their probed
/// gaps in [`Backend::not_applicable`].
pub fn not_applicable(
    engine: Engine,
    level: Isolation,
    method: Option<MethodId>,
) -> Option<&'static str> {
    match engine {
        Engine::Sqlite => sqlite::not_applicable(level, method),
        // The PostgreSQL-protocol engines accept every level and may run it as another: the
        // effective level read back says which.
        Engine::Postgres | Engine::Mariadb | Engine::Cockroach | Engine::Yugabyte => None,
    }
}

/// Whether this machine can start a throwaway database of `engine`.
pub fn can_start(engine: Engine) -> bool {
    match engine {
        Engine::Postgres => postgres::binaries::find_server_binaries().is_some(),
        Engine::Mariadb => mariadb::find_binaries().is_some(),
        Engine::Sqlite => true,
        Engine::Cockroach | Engine::Yugabyte => false,
    }
}

/// The configured database at `location`, or (with None) a throwaway one of `engine`: a
/// PostgreSQL cluster or a MariaDB server with its `counter` database, or a SQLite file.
pub async fn provision(engine: Engine, location: Option<Location>) -> Result<Provisioned, DbError> {
    if let Some(location) = location {
        return Ok(Provisioned {
            location,
            throwaway: None,
        });
    }
    if let Some(example) = engine.url_example() {
        return Err(DbError::NeedsUrl(engine.product(), example));
    }
    let (location, throwaway) = match engine {
        Engine::Postgres | Engine::Cockroach | Engine::Yugabyte => {
            let cluster = tokio::task::spawn_blocking(postgres::LocalCluster::start).await??;
            postgres::create_database(&cluster.connect_options("postgres"), DEFAULT_DATABASE)
                .await?;
            let options = Box::new(cluster.connect_options(DEFAULT_DATABASE));
            (
                Location::Postgres { options, engine },
                Throwaway::Postgres(cluster),
            )
        }
        Engine::Mariadb => {
            let server = tokio::task::spawn_blocking(mariadb::LocalMariaDb::start).await??;
            mariadb::create_database(&server).await?;
            let options = Box::new(server.connect_options());
            (Location::Mariadb(options), Throwaway::Mariadb(server))
        }
        Engine::Sqlite => {
            let file = sqlite::SqliteFile::create()
                .map_err(|err| DbError::Sqlite(format!("could not create its directory: {err}")))?;
            (Location::Sqlite(file.path()), Throwaway::Sqlite(file))
        }
    };
    Ok(Provisioned {
        location,
        throwaway: Some(throwaway),
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
