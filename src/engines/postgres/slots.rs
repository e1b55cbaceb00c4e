//! The state a set of connections and its leases share: where and how to connect, the
//! permits (one per connection that may exist), the idle connections; opening a connection
//! (with backoff while the database restarts), resetting one a script used, taking one back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::Semaphore;

use super::errors;
use super::relay::TxRelay;
use crate::engines::patroni::HaView;
use crate::model::ErrorClass;

/// The shared state of one [`Connections`](super::Connections) set.
pub(super) struct Slots {
    pub(super) size: u32,
    pub(super) options: PgConnectOptions,
    /// Sent once on each new connection (the level, through a session-pooling pooler).
    pub(super) after_connect: Option<&'static str>,
    /// A replicated cluster: each new connection goes to the node Patroni names primary, and
    /// is kept only if it really is one (not in recovery).
    pub(super) follow: Option<Arc<HaView>>,
    /// One permit per connection that may exist; a lease holds one until its connection is
    /// back (or gone).
    pub(super) permits: Arc<Semaphore>,
    /// Each idle connection with its backend pid (known when a relay listens).
    pub(super) idle: Mutex<Vec<(PgConnection, Option<i32>)>>,
    /// The relay the connections go through, which hears their transaction state (the
    /// connections that run users' scripts); None for the others.
    pub(super) relay: Option<Arc<TxRelay>>,
    pub(super) closed: AtomicBool,
    pub(super) acquire_timeout: Duration,
}

/// Whether the server at the other end of `conn` is a standby.
async fn in_recovery(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .persistent(false)
        .fetch_one(conn)
        .await
}

impl Slots {
    /// A new connection. While the database refuses or drops connections (down, restarting,
    /// out of slots), tries again with backoff, within the caller's acquire timeout: a restart
    /// of a few seconds delays requests instead of failing them. Other errors (a wrong
    /// password, a missing database) are returned at once.
    pub(super) async fn connect(&self) -> Result<(PgConnection, Option<i32>), sqlx::Error> {
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
    pub(super) async fn reset(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        conn.clear_cached_statements().await?;
        sqlx::raw_sql("DISCARD ALL").execute(&mut *conn).await?;
        if let Some(sql) = self.after_connect {
            sqlx::raw_sql(sql).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Keeps `conn` for the next lease, unless the set was closed meanwhile.
    pub(super) fn give_back(&self, conn: PgConnection, pid: Option<i32>) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((conn, pid));
        }
    }
}
