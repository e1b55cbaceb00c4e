//! One connection lent by [`Connections`](super::Connections): what a request may do with
//! it (mark it broken, discard it, ask for a reset, read what the relay heard, cancel its
//! statement), and how it goes back when dropped.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::OwnedSemaphorePermit;

use super::errors;
use super::slots::Slots;
use crate::engines::wire::Reported;
use crate::methods::Canceller;
use crate::model::ErrorClass;

/// One leased connection; dereferences to the [`PgConnection`], and goes back when dropped.
pub struct Lease {
    pub(super) conn: Option<PgConnection>,
    /// The backend's pid, when the set goes through a relay.
    pub(super) pid: Option<i32>,
    pub(super) permit: Option<OwnedSemaphorePermit>,
    pub(super) owner: Arc<Slots>,
    pub(super) broken: bool,
    pub(super) discarded: bool,
    /// Reset before reuse (a user's script ran on it).
    pub(super) reset: bool,
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
