//! The gate each instance's session is observed through: before every statement it tells the
//! explorer what the instance wants to send and waits to be let go; after it, it hands over
//! the answer. The instance runs the product's own method code (`methods::increment`) in a
//! task of its own, on a connection of its own: nothing is ever dropped or timed out in the
//! middle of a statement (sqlx's connections are not cancel-safe); a statement that must stop
//! is cancelled from the probe connection, and the instance sees the error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::engines::sqlite::errors::BUSY;
use crate::methods::{self, MethodContext, Session, Span};
use crate::model::statement::{Answer, Observer, Pending, Statement, Then};
use crate::model::{DbFailure, IncrementError, MethodId};

/// What an instance tells the explorer.
pub(super) enum Event {
    /// Its connection's server-side id, when it is known only once the instance has started
    /// (an application's request: the connection it took is known at its first statement).
    Identified { id: i64 },
    /// It wants to send `statement`; `go` lets it.
    Ready {
        statement: Statement,
        go: oneshot::Sender<()>,
    },
    /// Its statement answered; `would_block`: SQLite's SQLITE_BUSY, the step would have waited
    /// (it is sent again when the explorer lets it).
    Answered {
        answer: Result<Answer, DbFailure>,
        would_block: bool,
    },
    /// The method returned.
    Finished {
        result: Result<Option<i64>, IncrementError>,
    },
}

/// One instance's gate.
pub(super) struct Gate {
    instance: usize,
    events: mpsc::UnboundedSender<(usize, Event)>,
    /// SQLite: a BUSY answer means "would wait" and is sent again, not handed to the method.
    busy_blocks: bool,
    /// Set when the explorer stops waiting for this instance (a lock held outside the
    /// schedule, a deadlock SQLite answers at once): its next BUSY goes to the method.
    give_up: AtomicBool,
}

impl Gate {
    pub fn new(
        instance: usize,
        events: mpsc::UnboundedSender<(usize, Event)>,
        busy_blocks: bool,
    ) -> Arc<Gate> {
        Arc::new(Gate {
            instance,
            events,
            busy_blocks,
            give_up: AtomicBool::new(false),
        })
    }

    pub fn give_up(&self) {
        self.give_up.store(true, Ordering::SeqCst);
    }

    pub fn send(&self, event: Event) {
        // The explorer outlives every instance; a closed channel only means it is gone.
        let _ = self.events.send((self.instance, event));
    }
}

impl Observer for Gate {
    fn before<'a>(&'a self, statement: &'a Statement) -> Pending<'a> {
        let (go, wait) = oneshot::channel();
        self.send(Event::Ready {
            statement: statement.clone(),
            go,
        });
        Box::pin(async move {
            // Dropped without a word only when the explorer itself is gone: go on, so that
            // the instance finishes and gives its connection back.
            let _ = wait.await;
        })
    }

    fn after(&self, _statement: &Statement, answer: &Result<Answer, DbFailure>) -> Then {
        let busy = matches!(answer, Err(failure) if failure.code() == Some(BUSY));
        let would_block = busy && self.busy_blocks && !self.give_up.load(Ordering::SeqCst);
        self.send(Event::Answered {
            answer: answer.clone(),
            would_block,
        });
        match would_block {
            true => Then::Resend,
            false => Then::Deliver,
        }
    }
}

/// Starts one instance of `method` on `session`, watched by `gate`.
pub(super) fn spawn_instance<S: Session + 'static>(
    mut session: S,
    gate: Arc<Gate>,
    method: MethodId,
    ctx: MethodContext,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        session.observe(gate.clone());
        let result = methods::increment(method, &mut session, &ctx, &Span::default()).await;
        // The connection goes back before the explorer hears the end.
        drop(session);
        gate.send(Event::Finished { result });
    })
}
