//! Where a run's database is, and the throwaway database made when none is configured.

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;

use super::ha::{HaView, LocalHaCluster};
use super::options::Durability;
use super::pgbouncer::LocalPgBouncer;
use super::pooler::{Pooler, PoolerRequest};
use super::shared::DbError;
use super::{mariadb, postgres, sqlite};
use crate::model::{Cluster, Engine, GaleraSetup, Replication};

/// The database a throwaway cluster creates, named like the original's POSTGRES_DB default.
pub const DEFAULT_DATABASE: &str = "counter";

/// Where a run's database is.
#[derive(Debug, Clone)]
pub enum Location {
    /// PostgreSQL, or an engine that speaks its protocol (CockroachDB, YugabyteDB).
    Postgres {
        options: Box<PgConnectOptions>,
        engine: Engine,
        /// The pooler the increments go through, if any (the rest connects directly).
        pooler: Option<Box<Pooler>>,
        /// A replicated cluster whose primary every connection follows (the options then
        /// name the primary at start-up).
        follow: Option<Arc<HaView>>,
        /// The account users' scripts log in with (None: the run's own).
        scripts: Option<Box<postgres::script_role::ScriptLogin>>,
    },
    Mariadb {
        /// The server's, or a Galera cluster's first node's.
        options: Box<MySqlConnectOptions>,
        /// The account users' scripts log in with (None: the run's own).
        scripts: Option<Box<mariadb::script_user::ScriptLogin>>,
        /// A multi-primary cluster: every node, and which one each increment runs on.
        galera: Option<Arc<mariadb::galera::Nodes>>,
    },
    Sqlite(PathBuf),
}

impl Location {
    /// The URL to show humans: never the password.
    pub fn display_url(&self) -> String {
        match self {
            Location::Postgres {
                pooler: Some(pooler),
                ..
            } => format!(
                "{} via {}",
                postgres::redact_url(&pooler.options),
                pooler.description
            ),
            Location::Postgres { options, .. } => postgres::redact_url(options),
            Location::Sqlite(path) => format!("sqlite://{}", path.display()),
            Location::Mariadb {
                galera: Some(galera),
                ..
            } => galera.describe(),
            Location::Mariadb { options, .. } => mariadb::redact(options),
        }
    }
}

/// What is throwaway behind a location: stopped and deleted when dropped.
#[derive(Debug)]
pub enum Throwaway {
    Postgres(postgres::LocalCluster),
    Ha(LocalHaCluster),
    Mariadb(mariadb::LocalMariaDb),
    /// Shared with the run's recovery, which restarts a stalled node (it holds it weakly:
    /// dropping this stops the cluster).
    Galera(Arc<std::sync::Mutex<mariadb::galera::LocalGalera>>),
    Sqlite(sqlite::SqliteFile),
}

impl Throwaway {
    /// The server's (or file's) directory.
    pub fn dir(&self) -> PathBuf {
        match self {
            Throwaway::Postgres(cluster) => cluster.dir().to_path_buf(),
            Throwaway::Ha(cluster) => cluster.dir().to_path_buf(),
            Throwaway::Mariadb(server) => server.dir().to_path_buf(),
            Throwaway::Galera(cluster) => match cluster.lock() {
                Ok(cluster) => cluster.dir().to_path_buf(),
                Err(poisoned) => poisoned.into_inner().dir().to_path_buf(),
            },
            Throwaway::Sqlite(file) => file.path(),
        }
    }
}

/// A database ready to be connected to, and what is throwaway behind it.
#[derive(Debug)]
pub struct Provisioned {
    pub location: Location,
    /// Declared before the database: dropped (stopped) first.
    pub pooler: Option<LocalPgBouncer>,
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
        self.pooler = None;
        self.throwaway = None;
    }
}

/// What a proxy in front of a database starts from: its port bound first (one in use is found
/// before a database is started for nothing), then the database (a throwaway cluster unless
/// `location` names one), unless `interrupted` (Ctrl-C) comes first: then None.
pub async fn bind_and_provision(
    listen: std::net::SocketAddr,
    location: Option<Location>,
    durability: Durability,
    interrupted: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> anyhow::Result<Option<(tokio::net::TcpListener, Provisioned)>> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("could not listen on {listen}"))?;
    let provision = crate::engines::provision(
        crate::model::Engine::Postgres,
        location,
        durability,
        None,
        None,
    );
    tokio::select! {
        provisioned = provision => Ok(Some((listener, provisioned?))),
        () = interrupted => Ok(None),
    }
}

/// The configured database at `location`, or (with None) a throwaway one of `engine`: a
/// PostgreSQL cluster (behind a throwaway PgBouncer when `pooler` asks for one) or a MariaDB
/// server with its `counter` database, or a SQLite file, with `durability` (a SQLite file
/// gets it when opened).
pub async fn provision(
    engine: Engine,
    location: Option<Location>,
    durability: Durability,
    pooler: Option<PoolerRequest>,
    cluster: Option<Cluster>,
) -> Result<Provisioned, DbError> {
    if let Some(location) = location {
        return Ok(Provisioned {
            location,
            pooler: None,
            throwaway: None,
        });
    }
    if let Some(example) = engine.url_example() {
        return Err(DbError::NeedsUrl(engine.product(), example));
    }
    match cluster {
        Some(Cluster::Ha(replication)) => {
            return provision_ha(engine, durability, replication).await;
        }
        Some(Cluster::Galera(setup)) => {
            return provision_galera(durability, setup).await;
        }
        None => {}
    }
    let (location, throwaway) = match engine {
        Engine::Postgres | Engine::Cockroach | Engine::Yugabyte => {
            let start = move || postgres::LocalCluster::start(durability);
            let cluster = tokio::task::spawn_blocking(start).await??;
            postgres::create_database(&cluster.connect_options("postgres"), DEFAULT_DATABASE)
                .await?;
            let options = cluster.connect_options(DEFAULT_DATABASE);
            let scripts = postgres::script_role::create(&options, DEFAULT_DATABASE).await?;
            let (pooler, local) = match pooler {
                Some(request) => {
                    // On an error the cluster is dropped, which stops it.
                    let (pooler, local) =
                        start_pooler(&options, cluster.password(), request).await?;
                    (Some(Box::new(pooler)), Some(local))
                }
                None => (None, None),
            };
            let location = Location::Postgres {
                options: Box::new(options),
                engine,
                pooler,
                follow: None,
                scripts: Some(Box::new(scripts)),
            };
            return Ok(Provisioned {
                location,
                pooler: local,
                throwaway: Some(Throwaway::Postgres(cluster)),
            });
        }
        Engine::Mariadb => {
            let start = move || mariadb::LocalMariaDb::start(durability);
            let server = tokio::task::spawn_blocking(start).await??;
            mariadb::create_database(&server.connect_options()).await?;
            let scripts = mariadb::script_user::create(&server.connect_options()).await?;
            let location = Location::Mariadb {
                options: Box::new(server.connect_options()),
                scripts: Some(Box::new(scripts)),
                galera: None,
            };
            (location, Throwaway::Mariadb(server))
        }
        Engine::Sqlite => {
            let file = sqlite::SqliteFile::create()
                .map_err(|err| DbError::Sqlite(format!("could not create its directory: {err}")))?;
            (Location::Sqlite(file.path()), Throwaway::Sqlite(file))
        }
    };
    Ok(Provisioned {
        location,
        pooler: None,
        throwaway: Some(throwaway),
    })
}

/// A throwaway replicated cluster (Patroni, etcd) with its `counter` database.
async fn provision_ha(
    engine: Engine,
    durability: Durability,
    replication: Replication,
) -> Result<Provisioned, DbError> {
    let start = move || LocalHaCluster::start(replication, durability);
    let cluster = tokio::task::spawn_blocking(start).await??;
    postgres::create_database(&cluster.connect_options("postgres"), DEFAULT_DATABASE).await?;
    let location = Location::Postgres {
        options: Box::new(cluster.connect_options(DEFAULT_DATABASE)),
        engine,
        pooler: None,
        follow: Some(cluster.view()),
        scripts: None,
    };
    Ok(Provisioned {
        location,
        pooler: None,
        throwaway: Some(Throwaway::Ha(cluster)),
    })
}

/// A throwaway Galera cluster, every node synced, with its `counter` database and the
/// scripts' account (made on the first node; Galera replicates both to the others before
/// anything uses them); its start-up time is logged.
async fn provision_galera(
    durability: Durability,
    setup: GaleraSetup,
) -> Result<Provisioned, DbError> {
    use mariadb::galera::{LocalGalera, Nodes, Recovery, nodes};
    use sqlx::ConnectOptions;
    let started = std::time::Instant::now();
    let start = move || LocalGalera::start(durability, setup.join_within);
    let cluster = tokio::task::spawn_blocking(start).await??;
    // On an error from here on, the cluster is dropped, which stops it.
    let admin = cluster.connect_options("mysql");
    nodes::wait_synced(&admin, nodes::SYNC_DEADLINE).await?;
    mariadb::create_database(&admin[0]).await?;
    let options = cluster.connect_options(DEFAULT_DATABASE);
    let scripts = mariadb::script_user::create(&options[0]).await?;
    let mut conns = Vec::new();
    for node in &admin {
        conns.push(node.connect().await?);
    }
    let mut conns: Vec<&mut sqlx::MySqlConnection> = conns.iter_mut().collect();
    nodes::wait_applied(&mut conns, nodes::SYNC_DEADLINE).await?;
    tracing::info!(
        "throwaway Galera cluster of {} nodes synced after {:.1} s (removed on exit)",
        options.len(),
        started.elapsed().as_secs_f64()
    );
    let cluster = Arc::new(std::sync::Mutex::new(cluster));
    let recovery = Recovery::new(&cluster, admin);
    let location = Location::Mariadb {
        options: Box::new(options[0].clone()),
        scripts: Some(Box::new(scripts)),
        galera: Some(Arc::new(Nodes {
            options,
            placement: setup.placement,
            recovery,
        })),
    };
    Ok(Provisioned {
        location,
        pooler: None,
        throwaway: Some(Throwaway::Galera(cluster)),
    })
}

/// A throwaway PgBouncer in front of the cluster at `upstream`.
async fn start_pooler(
    upstream: &PgConnectOptions,
    password: &str,
    request: PoolerRequest,
) -> Result<(Pooler, LocalPgBouncer), DbError> {
    let (upstream, password) = (upstream.clone(), password.to_string());
    let start_upstream = upstream.clone();
    let local = tokio::task::spawn_blocking(move || {
        LocalPgBouncer::start(
            &start_upstream,
            &password,
            DEFAULT_DATABASE,
            request.mode,
            request.pool_size,
            request.as_application,
        )
    })
    .await??;
    let pooler = Pooler {
        options: upstream.host("127.0.0.1").port(local.port()),
        mode: local.mode(),
        level_entries: true,
        description: match request.as_application {
            true => format!(
                "{}, ignoring the startup parameter options, counter connecting as an unaware application",
                local.describe()
            ),
            false => local.describe(),
        },
        as_application: request.as_application,
    };
    Ok((pooler, local))
}
