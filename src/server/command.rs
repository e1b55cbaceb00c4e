//! `counter serve`: provision the database, open the pool at the run's isolation level, serve
//! until Ctrl-C or SIGTERM, then finish in-flight requests and remove the throwaway cluster.

use std::io::Write;

use anyhow::Context;
use tokio::net::TcpListener;

use super::{AppState, SHUTDOWN_GRACE, shutdown_signal, spawn};
use crate::cli::ServeArgs;
use crate::db;
use crate::engine::Backend;

pub async fn run(args: ServeArgs) -> anyhow::Result<u8> {
    // Watch for signals from the start, so a Ctrl-C during startup also cleans up.
    let mut shutdown = Box::pin(shutdown_signal());
    let mut provisioned = tokio::select! {
        provisioned = db::provision(args.engine, &args.database) => provisioned?,
        () = &mut shutdown => return Ok(130),
    };
    if let Some(cluster) = &provisioned.cluster {
        tracing::info!(
            "throwaway PostgreSQL cluster at {} in {} (removed on exit)",
            provisioned.display_url(),
            cluster.dir().display()
        );
    }
    let result = serve(&args, &provisioned, shutdown).await;
    provisioned.shutdown();
    result.map(|()| 0)
}

async fn serve(
    args: &ServeArgs,
    provisioned: &db::Provisioned,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let think = std::time::Duration::from_millis(args.behaviour.think_ms);
    let backend =
        Backend::open(&provisioned.location, args.isolation, args.pool_size, think).await?;
    let about = backend.describe();
    tracing::info!(
        engine = about.engine.name(),
        requested = %about.isolation,
        effective = %about.effective_isolation,
        server_version = %about.server_version,
        pool_size = about.pool_size,
        "database ready"
    );
    let listener = TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("could not listen on {}", args.bind))?;
    let state = AppState::with_backend(backend, args.behaviour.retry)
        .with_max_in_flight(args.max_in_flight);
    let backend = state.backend.clone();
    let handle = spawn(listener, state)?;
    tracing::info!(
        "listening on {0} (Swagger UI: {0}/api/v1/swagger)",
        handle.base_url()
    );
    // The URL (without password) on stdout too, so a second terminal can use the database.
    // Write errors are ignored: a closed stdout must not stop the server.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "database: {}", provisioned.display_url());
    let _ = writeln!(stdout, "listening: {}", handle.base_url());
    shutdown.await;
    tracing::info!("shutting down: finishing in-flight requests");
    handle.shutdown(SHUTDOWN_GRACE).await;
    backend.close().await;
    Ok(())
}
