//! Where a run's database is, and the throwaway database made when none is configured.

use std::path::PathBuf;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;

use super::options::Durability;
use super::shared::DbError;
use super::{mariadb, postgres, sqlite};
use crate::model::Engine;

/// The database a throwaway cluster creates, named like the original's POSTGRES_DB default.
pub const DEFAULT_DATABASE: &str = "counter";

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

/// The configured database at `location`, or (with None) a throwaway one of `engine`: a
/// PostgreSQL cluster or a MariaDB server with its `counter` database, or a SQLite file,
/// with `durability` (a SQLite file gets it when opened).
pub async fn provision(
    engine: Engine,
    location: Option<Location>,
    durability: Durability,
) -> Result<Provisioned, DbError> {
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
            let start = move || postgres::LocalCluster::start(durability);
            let cluster = tokio::task::spawn_blocking(start).await??;
            postgres::create_database(&cluster.connect_options("postgres"), DEFAULT_DATABASE)
                .await?;
            let options = Box::new(cluster.connect_options(DEFAULT_DATABASE));
            (
                Location::Postgres { options, engine },
                Throwaway::Postgres(cluster),
            )
        }
        Engine::Mariadb => {
            let start = move || mariadb::LocalMariaDb::start(durability);
            let server = tokio::task::spawn_blocking(start).await??;
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
