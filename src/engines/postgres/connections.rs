//! The connections increments run on: at most `size` long-lived PostgreSQL connections, lent
//! to one request at a time and taken back without a round trip.
//!
//! sqlx's pool tests every connection it takes back with a Sync round trip, in a task of its
//! own (to flush the ROLLBACK a dropped transaction may have queued). On the hot path that is
//! a third round trip beside an increment's two statements, a third wakeup of a PostgreSQL
//! backend and a task spawn: `bench/serve-vs-pgbench.sh` measured method 3 at 10,200 req/s
//! with it and 13,200-13,700 without. Here a connection goes back as it is when it has nothing
//! left to send; only one whose transaction was dropped mid-way (a queued ROLLBACK) is flushed
//! first, in the background, and one that failed at the connection level is dropped with the
//! idle ones: the next lease connects afresh, which is how a restarted database is picked up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::Semaphore;

pub use super::lease::Lease;
use super::pooled::Route;
use super::relay::TxRelay;
use super::slots::Slots;

/// A bounded set of connections. Cloning shares it.
#[derive(Clone)]
pub struct Connections {
    inner: Arc<Slots>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("available", &self.inner.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// Up to `size` connections made from `options` when first needed; waiting longer than
    /// `acquire_timeout` for one (a free slot and, if needed, a new connection) is
    /// [`sqlx::Error::PoolTimedOut`].
    pub fn new(options: PgConnectOptions, size: u32, acquire_timeout: Duration) -> Connections {
        Connections {
            inner: Arc::new(Slots {
                size,
                options,
                after_connect: None,
                follow: None,
                permits: Arc::new(Semaphore::new(size as usize)),
                idle: Mutex::new(Vec::new()),
                relay: None,
                closed: AtomicBool::new(false),
                acquire_timeout,
            }),
        }
    }

    /// The same along `route`: its statement sent once on each new connection, and new
    /// connections made to the current primary of a replicated cluster.
    pub fn routed(route: &Route, size: u32, acquire_timeout: Duration) -> Connections {
        let mut connections = Connections::new(route.options.clone(), size, acquire_timeout);
        if let Some(inner) = Arc::get_mut(&mut connections.inner) {
            inner.after_connect = route.after_connect;
            inner.follow = route.follow.clone();
        }
        connections
    }

    /// The same through `relay`: `options` already point at it, and each connection's backend
    /// pid is asked once, to find its state in the relay's records.
    pub fn through_relay(mut self, relay: Arc<TxRelay>) -> Connections {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.relay = Some(relay);
        }
        self
    }

    /// How many connections may exist at once.
    pub fn size(&self) -> u32 {
        self.inner.size
    }

    /// How many of them are neither lent out nor being cleaned up.
    pub fn free(&self) -> usize {
        self.inner.permits.available_permits()
    }

    /// A connection for one request: an idle one, or a new one.
    pub async fn acquire(&self) -> Result<Lease, sqlx::Error> {
        let inner = &self.inner;
        let lease = async {
            let permit = inner
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| sqlx::Error::PoolClosed)?;
            let idle = inner.idle.lock().ok().and_then(|mut idle| idle.pop());
            let (conn, pid) = match idle {
                Some(idle) => idle,
                None => inner.connect().await?,
            };
            Ok(Lease {
                conn: Some(conn),
                pid,
                permit: Some(permit),
                owner: self.inner.clone(),
                broken: false,
                discarded: false,
                reset: false,
            })
        };
        tokio::time::timeout(inner.acquire_timeout, lease)
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    /// Opens every connection the set may hold and keeps them idle: the first
    /// requests of a run then race on the database instead of queueing behind connection
    /// set-up (a SCRAM handshake costs a debug build tens of milliseconds of CPU, which made
    /// the first cell of a matrix "?": its transactions hardly overlapped).
    pub async fn warm_up(&self) -> Result<(), sqlx::Error> {
        // Held until all are open, so that each acquire makes a new one.
        let mut leases = Vec::new();
        for _ in 0..self.inner.size {
            leases.push(self.acquire().await?);
        }
        Ok(())
    }

    /// Refuses new leases and closes the idle connections; leased ones are closed when they
    /// come back.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.permits.close();
        let idle = match self.inner.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut *idle),
            Err(_) => Vec::new(),
        };
        for (conn, _) in idle {
            let _ = conn.close().await;
        }
    }
}
