//! `counter serve`: provision the database, open it at the run's isolation level, serve until
//! Ctrl-C or SIGTERM, then finish in-flight requests and remove the throwaway database.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use super::state::AppState;
use super::{SHUTDOWN_GRACE, spawn};
use crate::engines::{self, Backend, Location, OpenOptions, PoolerRequest, Provisioned, Throwaway};
use crate::model::{Cluster, Engine};
use crate::signals::shutdown_signal;

/// A serve run, as the command line and the environment configured it.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bind: SocketAddr,
    pub engine: Engine,
    /// The configured database; None for a throwaway one.
    pub location: Option<Location>,
    /// The level, its scope, the connections, think time, durability, engine options.
    pub open: OpenOptions,
    pub max_in_flight: usize,
    pub retry: u32,
    /// A throwaway pooler to start in front of the throwaway cluster.
    pub pooler: Option<PoolerRequest>,
    /// A throwaway cluster to start instead of a single server.
    pub cluster: Option<Cluster>,
}

pub async fn run(config: ServeConfig) -> anyhow::Result<u8> {
    // Watch for signals from the start, so a Ctrl-C during startup also cleans up.
    let mut shutdown = Box::pin(shutdown_signal());
    // The port first: one in use is found before a database is started for nothing.
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("could not listen on {}", config.bind))?;
    if !config.bind.ip().is_loopback() {
        eprintln!(
            "warning: listening on {}: the API has no authentication, and anyone who can reach \
             this address can increment (GET too) and reset the counters",
            config.bind
        );
    }
    let provision = engines::provision(
        config.engine,
        config.location.clone(),
        config.open.durability,
        config.pooler,
        config.cluster,
    );
    let mut provisioned = tokio::select! {
        provisioned = provision => provisioned?,
        () = &mut shutdown => return Ok(130),
    };
    let mut connect_hint = None;
    if let Some(Throwaway::Postgres(cluster)) = &provisioned.throwaway {
        tracing::info!(
            "throwaway PostgreSQL cluster at {} in {} (removed on exit)",
            provisioned.display_url(),
            cluster.dir().display()
        );
        // A second terminal connects through a password file only the invoking user can
        // read; the password itself is never printed.
        match cluster.write_pgpass() {
            Ok(path) => {
                connect_hint = Some(format!(
                    "PGPASSFILE={} psql -h 127.0.0.1 -p {} -U postgres {}",
                    path.display(),
                    cluster.port(),
                    engines::DEFAULT_DATABASE
                ));
            }
            Err(err) => tracing::warn!(%err, "no connection file for a second terminal"),
        }
    }
    if let Some(pooler) = &provisioned.pooler {
        tracing::info!(
            "pooler: {} on 127.0.0.1:{}, directory {} (removed on exit)",
            pooler.describe(),
            pooler.port(),
            pooler.dir().display()
        );
    }
    let result = serve(&config, listener, &provisioned, connect_hint, shutdown).await;
    provisioned.shutdown();
    result.map(|()| 0)
}

async fn serve(
    config: &ServeConfig,
    listener: TcpListener,
    provisioned: &Provisioned,
    connect_hint: Option<String>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let backend = Backend::open(&provisioned.location, &config.open).await?;
    if let Some(refused) = backend.script_refused() {
        let refused = refused.clone();
        backend.close().await;
        return Err(refused.into());
    }
    let about = backend.describe();
    tracing::info!(
        engine = about.engine.name(),
        requested = %about.isolation,
        scope = %about.scope,
        effective = %about.effective_isolation,
        settings = ?about.settings,
        server_version = %about.server_version,
        pool_size = about.pool_size,
        "database ready"
    );
    let state =
        AppState::with_backend(backend, config.retry).with_max_in_flight(config.max_in_flight);
    let backend = state.backend.clone();
    let handle = spawn(listener, state)?;
    tracing::info!(
        "listening on {0} (Swagger UI: {0}/api/v1/swagger)",
        handle.base_url()
    );
    // The URL (without password) on stdout too, and for a throwaway cluster how a second
    // terminal connects. Write errors are ignored: a closed stdout must not stop the server.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "database: {}", provisioned.display_url());
    if let Some(hint) = connect_hint {
        let _ = writeln!(stdout, "connect: {hint}");
    }
    if let Some(account) = &about.scripts {
        let _ = writeln!(stdout, "scripts run as: {}", account.name);
        if account.superuser {
            tracing::warn!(
                "the --method-file script runs as {}, a superuser: it can change what every \
                 other request sees; give --script-url an account limited to the counter tables",
                account.name
            );
        }
    }
    let _ = writeln!(stdout, "listening: {}", handle.base_url());
    shutdown.await;
    tracing::info!("shutting down: finishing in-flight requests");
    handle.shutdown(SHUTDOWN_GRACE).await;
    backend.close().await;
    Ok(())
}
