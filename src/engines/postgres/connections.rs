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

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::errors;
use super::pooled::Route;
use super::relay::TxRelay;
use crate::engines::ha::rest::HaView;
use crate::engines::wire::Reported;
use crate::methods::Canceller;
use crate::model::ErrorClass;

/// A bounded set of connections. Cloning shares it.
#[derive(Clone)]
pub struct Connections {
    inner: Arc<Inner>,
}

struct Inner {
    size: u32,
    options: PgConnectOptions,
    /// Sent once on each new connection (the level, through a session-pooling pooler).
    after_connect: Option<&'static str>,
    /// A replicated cluster: each new connection goes to the node Patroni names primary, and
    /// is kept only if it really is one (not in recovery).
    follow: Option<Arc<HaView>>,
    /// One permit per connection that may exist; a lease holds one until its connection is
    /// back (or gone).
    permits: Arc<Semaphore>,
    /// Each idle connection with its backend pid (known when a relay listens).
    idle: Mutex<Vec<(PgConnection, Option<i32>)>>,
    /// The relay the connections go through, which hears their transaction state (the
    /// connections that run users' scripts); None for the others.
    relay: Option<Arc<TxRelay>>,
    closed: AtomicBool,
    acquire_timeout: Duration,
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
            inner: Arc::new(Inner {
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

/// One leased connection; dereferences to the [`PgConnection`], and goes back when dropped.
pub struct Lease {
    conn: Option<PgConnection>,
    /// The backend's pid, when the set goes through a relay.
    pid: Option<i32>,
    permit: Option<OwnedSemaphorePermit>,
    owner: Arc<Inner>,
    broken: bool,
    discarded: bool,
    /// Reset before reuse (a user's script ran on it).
    reset: bool,
}

impl Lease {
    /// Marks the connection for dropping instead of reuse when `err` is a failure at the
    /// connection level (I/O, protocol, the server shutting down): the next lease connects
    /// afresh.
    pub fn check(&mut self, err: &sqlx::Error) {
        if errors::classify(err).class == ErrorClass::Unavailable {
            self.broken = true;
        }
    }

    /// Closes this connection instead of taking it back (it is in a state no one else may
    /// inherit, such as an open transaction); the others are not affected.
    pub fn discard(&mut self) {
        self.discarded = true;
    }

    /// A user's script ran on this connection: before anyone else gets it, it is reset as
    /// PgBouncer resets a server connection (`DISCARD ALL`: settings, temporary tables,
    /// session locks, prepared statements, `LISTEN`s), and the set's statement for new
    /// connections runs again. Closing it instead cost a new connection per script request:
    /// in a debug build under load, SCRAM handshakes made requests wait past the acquire
    /// timeout (10 of 100 answered 503 in one run).
    pub fn reset_before_reuse(&mut self) {
        self.reset = true;
    }

    /// Where the connection's transaction is and the transaction commands completed since
    /// the last call, as the relay heard the server say it; None without a relay.
    pub fn reported(&mut self) -> Option<Reported> {
        let state = self.owner.relay.as_ref()?.take(self.pid?)?;
        Some(Reported {
            open: state.status != b'I',
            control: state.control,
        })
    }

    /// Cancels what this connection's backend runs, through the relay (a CancelRequest);
    /// None without a relay.
    pub fn canceller(&self) -> Option<Canceller> {
        let relay = Arc::clone(self.owner.relay.as_ref()?);
        let pid = self.pid?;
        Some(Arc::new(move || {
            let relay = Arc::clone(&relay);
            Box::pin(async move {
                if let Err(err) = relay.cancel(pid).await {
                    tracing::warn!(%err, pid, "could not cancel a script's statement");
                }
            })
        }))
    }
}

impl Deref for Lease {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let (Some(mut conn), Some(permit)) = (self.conn.take(), self.permit.take()) else {
            return;
        };
        let pid = self.pid;
        let owner = self.owner.clone();
        if owner.closed.load(Ordering::SeqCst) || self.discarded {
            // Dropping closes the socket; the slot frees with the permit.
            return;
        }
        if self.broken {
            // The idle connections most likely share its fate (a restarted database): drop
            // them too, so that each does not cost a request a 503 before it is replaced.
            if let Ok(mut idle) = owner.idle.lock() {
                idle.clear();
            }
            return;
        }
        if !conn.should_flush() && !self.reset {
            owner.give_back(conn, pid);
            return;
        }
        let reset = self.reset;
        // A transaction was dropped mid-way and its ROLLBACK is queued: send it now, not when
        // the next request happens to use this connection, so that no session stays idle in
        // transaction. The slot stays taken until the connection is clean.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let clean = match reset {
                true => owner.reset(&mut conn).await.is_ok(),
                false => conn.ping().await.is_ok(),
            };
            if clean {
                owner.give_back(conn, pid);
            }
            drop(permit);
        });
    }
}

/// Whether the server at the other end of `conn` is a standby.
async fn in_recovery(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .persistent(false)
        .fetch_one(conn)
        .await
}

impl Inner {
    /// A new connection. While the database refuses or drops connections (down, restarting,
    /// out of slots), tries again with backoff, within the caller's acquire timeout: a restart
    /// of a few seconds delays requests instead of failing them. Other errors (a wrong
    /// password, a missing database) are returned at once.
    async fn connect(&self) -> Result<(PgConnection, Option<i32>), sqlx::Error> {
        let mut conn = self.open().await?;
        let pid = match self.relay {
            Some(_) => Some(
                sqlx::query_scalar("SELECT pg_backend_pid()")
                    .persistent(false)
                    .fetch_one(&mut conn)
                    .await?,
            ),
            None => None,
        };
        Ok((conn, pid))
    }

    async fn open(&self) -> Result<PgConnection, sqlx::Error> {
        let mut backoff = Duration::from_millis(10);
        loop {
            let options = match &self.follow {
                None => Some(self.options.clone()),
                Some(view) => view
                    .primary()
                    .await
                    .map(|node| self.options.clone().host(&node.host).port(node.pg_port)),
            };
            let Some(options) = options else {
                // No primary named (a failover in progress): wait, within the timeout.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            };
            match options.connect().await {
                Ok(mut conn) => {
                    if let Some(sql) = self.after_connect {
                        sqlx::raw_sql(sql).execute(&mut conn).await?;
                    }
                    if self.follow.is_some() && in_recovery(&mut conn).await? {
                        // Named primary a moment too early or too late: not writable.
                        let _ = conn.close().await;
                        tokio::time::sleep(backoff).await;
                        continue;
                    }
                    return Ok(conn);
                }
                Err(err) if errors::classify(&err).class == ErrorClass::Unavailable => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// `conn` as good as new: no statement of ours cached (DISCARD ALL deallocates them on the
    /// server, so sqlx must forget them first), nothing of a script's left, and the set's
    /// statement for new connections sent again (DISCARD ALL resets what it set).
    async fn reset(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        conn.clear_cached_statements().await?;
        sqlx::raw_sql("DISCARD ALL").execute(&mut *conn).await?;
        if let Some(sql) = self.after_connect {
            sqlx::raw_sql(sql).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Keeps `conn` for the next lease, unless the set was closed meanwhile.
    fn give_back(&self, conn: PgConnection, pid: Option<i32>) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((conn, pid));
        }
    }
}
