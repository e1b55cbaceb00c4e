//! A script's deadline: past it the running statement is cancelled (through the session's
//! canceller, whatever the script set as its own timeout), a sleep is cut short, and the attempt
//! ends, truthfully about what stayed applied.

use std::time::Duration;

use tokio::time::Instant;

use super::Run;
use crate::methods::session::{Session, TxReport};
use crate::model::statement::{Answer, Statement as Sent};
use crate::model::{DbFailure, IncrementError};

/// How long a cancelled statement gets to come back with its error before counter stops
/// waiting for it (the connection is then closed, which ends the transaction too).
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

impl Run {
    /// Refuses to go on past the deadline.
    pub(super) fn before(&self, line: usize) -> Result<(), IncrementError> {
        match self.deadline {
            Some((at, after)) if Instant::now() >= at => Err(self.late(line, after)),
            _ => Ok(()),
        }
    }

    pub(super) fn late(&self, line: usize, after: Duration) -> IncrementError {
        self.failed(line, IncrementError::DeadlineExceeded { line, after })
    }

    pub(super) async fn sleep(&self, line: usize, pause: Duration) -> Result<(), IncrementError> {
        let Some((at, after)) = self.deadline else {
            tokio::time::sleep(pause).await;
            return Ok(());
        };
        if Instant::now() + pause > at {
            tokio::time::sleep_until(at).await;
            return Err(self.late(line, after));
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }

    /// Sends `sent`, cancelling it if the deadline passes first: the statement then fails
    /// (the database's cancel error), or, if it does not come back within [`CANCEL_GRACE`],
    /// the attempt ends here and the connection is closed with the session.
    pub(super) async fn send<S: Session>(
        &self,
        session: &mut S,
        line: usize,
        sent: Sent,
        writes: bool,
    ) -> Result<Result<(Answer, TxReport), DbFailure>, IncrementError> {
        let Some((at, after)) = self.deadline else {
            return Ok(session.run_script(sent).await);
        };
        let canceller = session.canceller().await;
        let running = session.run_script(sent);
        tokio::pin!(running);
        tokio::select! {
            answered = &mut running => return Ok(answered),
            () = tokio::time::sleep_until(at) => {}
        }
        if let Some(cancel) = canceller {
            cancel().await;
        }
        match tokio::time::timeout(CANCEL_GRACE, running).await {
            // It finished just then: what it did counts; the next step meets the deadline.
            Ok(Ok(answered)) => Ok(Ok(answered)),
            // Cancelled: it did nothing, and its transaction rolls back.
            Ok(Err(_)) => Err(self.late(line, after)),
            // Never answered: an autocommit write may or may not have committed.
            Err(_) if writes && !self.in_transaction => Err(IncrementError::ScriptPartlyApplied {
                line,
                cause: format!(
                    "the statement ran past the deadline of {} ms and did not answer its \
                     cancel",
                    after.as_millis()
                ),
            }),
            Err(_) => Err(self.late(line, after)),
        }
    }
}
