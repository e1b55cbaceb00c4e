//! One level's servers: `--replicas` of them on the same database, each with its own backend
//! (new pool, new connections, its own in-process lock), on ephemeral loopback ports. Started
//! together and stopped together: when one cannot start, those already running are stopped
//! before the error is returned, so a matrix that fails part-way leaves nothing running.

use std::sync::Arc;

use tokio::net::TcpListener;

use super::{MatrixConfig, MatrixError};
use crate::engines::{Backend, Location};
use crate::hammer::Target;
use crate::model::Isolation;
use crate::server::{self, AppState, DEFAULT_MAX_IN_FLIGHT, ServerHandle};

pub(super) struct Servers {
    running: Vec<(ServerHandle, Arc<Backend>)>,
}

impl Servers {
    /// Starts the level's servers, each retrying `retry` times.
    pub async fn start(
        config: &MatrixConfig,
        location: &Location,
        level: Isolation,
        retry: u32,
    ) -> Result<Servers, MatrixError> {
        let mut servers = Servers {
            running: Vec::new(),
        };
        for _ in 0..config.replicas {
            if let Err(err) = servers.start_one(config, location, level, retry).await {
                servers.stop().await;
                return Err(err);
            }
        }
        Ok(servers)
    }

    async fn start_one(
        &mut self,
        config: &MatrixConfig,
        location: &Location,
        level: Isolation,
        retry: u32,
    ) -> Result<(), MatrixError> {
        let backend = Backend::open(location, &config.open_options(level)).await?;
        if let Some(refused) = backend.script_refused()
            && !config.script_may_be_refused
        {
            let refused = refused.clone();
            backend.close().await;
            return Err(MatrixError::Script(refused));
        }
        // The matrix's own concurrency is never shed: a shed request tests nothing.
        let state = AppState::with_backend(backend, retry)
            .with_max_in_flight(DEFAULT_MAX_IN_FLIGHT.max(config.concurrency as usize));
        let backend = state.backend.clone();
        let started = async { server::spawn(TcpListener::bind("127.0.0.1:0").await?, state) };
        match started.await {
            Ok(handle) => {
                self.running.push((handle, backend));
                Ok(())
            }
            Err(err) => {
                backend.close().await;
                Err(err.into())
            }
        }
    }

    /// The first server's backend (what the database says, what it cannot run).
    pub fn first(&self) -> &Backend {
        &self.running[0].1
    }

    /// Where the hammer sends the load: every server, round-robin.
    pub fn targets(&self) -> Result<Vec<Target>, MatrixError> {
        let targets = self.running.iter();
        let targets = targets.map(|(handle, _)| Target::parse(&handle.base_url()));
        Ok(targets.collect::<Result<Vec<_>, _>>()?)
    }

    /// Stops every server and closes its connections.
    pub async fn stop(self) {
        for (handle, backend) in self.running {
            handle.shutdown(server::SHUTDOWN_GRACE).await;
            backend.close().await;
        }
    }
}
