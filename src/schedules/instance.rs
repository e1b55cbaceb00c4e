//! One instance of a schedule as the runner sees it: where it is (its phase), what it has done
//! that later choices depend on, and how it ended. One value per instance, so that a new kind
//! of instance (an application's request arriving through the proxy, beside the product's own
//! method code at its gate) is one more way to fill it, not a change to the runner.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::gate::Gate;
use super::ran::GaveUp;
use crate::model::IncrementError;
use crate::model::statement::{Effect, Statement};

/// Where an instance is.
pub(super) enum Phase {
    /// In its own code (starting, or between statements).
    Working,
    AtGate {
        statement: Statement,
        go: oneshot::Sender<()>,
    },
    /// Sent; `blocked`: seen waiting for another instance (`on`) or for an unknown holder,
    /// and not looked at again since; `waited`: seen waiting at some point.
    Sent {
        step: usize,
        since: Instant,
        looked: bool,
        blocked: Option<Vec<usize>>,
        waited: bool,
    },
    /// SQLite: would block; waits to be sent again.
    Parked {
        statement: Statement,
        go: oneshot::Sender<()>,
    },
    Done,
}

/// One instance: its gate, its connection's server-side id, its phase and its history.
pub(super) struct Instance {
    pub gate: Arc<Gate>,
    /// The server-side id of its connection (the backend pid; SQLite: its number).
    pub id: i64,
    pub phase: Phase,
    /// Whether it has sent a statement another session could notice (instances that have
    /// not are interchangeable).
    pub touched: bool,
    /// SQLite: its last statement answered BUSY; its next arrival at the gate is a resend.
    pub resend_pending: bool,
    pub result: Option<Result<Option<i64>, IncrementError>>,
    pub gave_up: GaveUp,
    /// Whether its last wait was for another instance (a lock timeout then ends a deadlock
    /// the database did not detect).
    pub waited_on_ours: bool,
    /// A connection outside the schedule it was seen waiting for.
    pub stranger: Option<String>,
}

impl Instance {
    pub fn new(gate: Arc<Gate>, id: i64) -> Instance {
        Instance {
            gate,
            id,
            phase: Phase::Working,
            touched: false,
            resend_pending: false,
            result: None,
            gave_up: GaveUp::No,
            waited_on_ours: false,
            stranger: None,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// At its gate with a statement: it may be chosen.
    pub fn is_enabled(&self) -> bool {
        matches!(self.phase, Phase::AtGate { .. })
    }

    /// At its gate with a statement no other session can notice (it goes without a choice).
    pub fn has_local_statement(&self) -> bool {
        matches!(&self.phase, Phase::AtGate { statement, .. } if statement.effect == Effect::Local)
    }

    /// Its statement was sent and has neither answered nor been seen blocked.
    pub fn is_unconfirmed(&self) -> bool {
        matches!(self.phase, Phase::Sent { blocked: None, .. })
    }

    pub fn is_sent(&self) -> bool {
        matches!(self.phase, Phase::Sent { .. })
    }
}
