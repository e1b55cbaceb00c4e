//! What the database says after a script's statement, checked against what counter expects:
//! where the transaction is (a transaction the script opened, ended or chained itself is
//! refused) and the level it runs at (a level the script changed is refused before its
//! transaction commits).

use super::Run;
use crate::methods::session::{Session, TxReport};
use crate::model::{IncrementError, Isolation};

impl Run {
    /// The database says where the transaction is after the statement at `line`: where
    /// counter left it, or the script moved it (and the request is refused, truthfully about
    /// what stayed applied).
    pub(super) fn check_transaction(
        &mut self,
        line: usize,
        report: TxReport,
    ) -> Result<(), IncrementError> {
        let TxReport::Changed { open, control } = report else {
            return Ok(());
        };
        let named = match control.is_empty() {
            true => String::new(),
            false => format!(" ({})", control.join(", ")),
        };
        let committed = control.iter().any(|tag| tag.starts_with("COMMIT"))
            || (self.in_transaction && !open && control.is_empty());
        if committed {
            // What the transaction wrote before the script's own commit stays.
            self.committed_alone = true;
        }
        if open {
            // Counter rolls back what the script left open.
            self.in_transaction = true;
        } else {
            self.in_transaction = false;
        }
        let message = match (committed, open) {
            (true, _) => format!(
                "the statement ended counter's transaction itself{named}: its writes before \
                 it are committed, and counter opens and ends the script's transaction"
            ),
            (false, true) => format!(
                "the statement opened a transaction itself{named}: counter opens and ends the \
                 script's transaction (write BEGIN and COMMIT as statements of their own)"
            ),
            (false, false) => format!(
                "the statement rolled back counter's transaction itself{named}: write \
                 ROLLBACK as a statement of its own"
            ),
        };
        Err(self.script_failed(line, message))
    }

    /// Refuses the attempt when the database says the transaction (or, outside one, the
    /// next one) runs at another level than `expected`.
    pub(super) async fn check_level<S: Session>(
        &self,
        session: &mut S,
        line: usize,
        expected: Isolation,
    ) -> Result<(), IncrementError> {
        let found = session.isolation_now().await;
        match found.map_err(|err| self.database(line, err))? {
            Some(found) if found != expected => Err(self.level_changed(line, found)),
            _ => Ok(()),
        }
    }

    pub(super) fn level_changed(&self, line: usize, found: Isolation) -> IncrementError {
        let message = format!(
            "the database says the transaction runs at {found}, not at the run's {}: the \
             isolation level is the run's (--isolation), not the script's",
            self.level
        );
        self.script_failed(line, message)
    }
}
