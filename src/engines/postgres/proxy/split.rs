//! An autocommit write run as a transaction of its own. PostgreSQL commits a statement sent
//! outside a transaction block as part of running it: the commit is no step another session
//! can be scheduled before, so two autocommit `UPDATE`s could never overlap and a
//! read-modify-write in autocommit could never be caught between its read and its commit's
//! effect. The explorer's own sessions send such a write as `BEGIN`, the write, `COMMIT`;
//! this does the same for a client's: when the hooks ask for it, the proxy sends `BEGIN`
//! before the write, holds the write's `ReadyForQuery`, sends `COMMIT` (or `ROLLBACK` after an
//! error) as a step of its own, and lets the client have the commit's answer in place of the
//! held one. The client sees what PostgreSQL would have told it: its rows and tag, an error
//! if the commit failed, and `ReadyForQuery` idle.
//!
//! The proxy's part is a state machine over the server's messages (`Split`), told by the
//! client side when it opens a split and when the write was executed: each server message is
//! passed on, dropped (the answers of the proxy's own `BEGIN` and `COMMIT`), passed with
//! another transaction status (a `Sync` of the client's inside the split, before its
//! `Execute`, says idle as it would have without the proxy's `BEGIN`), or held until the
//! commit ran. Everything the write answered is held, not only its `ReadyForQuery`: a driver
//! hands a row or an error to the application as soon as it has it (sqlx does), and an
//! application that answered its request before the commit ran would have been told of an
//! increment that was not yet there.

/// The statements the proxy adds: what a reader of `pg_stat_activity` or a transcript sees.
pub const SPLIT_BEGIN: &str = "BEGIN /* counter: the autocommit write that follows runs alone */";
pub const SPLIT_COMMIT: &str = "COMMIT /* counter: the autocommit write's own commit */";
pub const SPLIT_ROLLBACK: &str = "ROLLBACK /* counter: the autocommit write failed */";

/// What becomes of one of the server's messages on its way to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Forward,
    Drop,
    /// A `ReadyForQuery` passed on with this transaction status.
    Status(u8),
    /// Kept back until the commit ran.
    Hold,
    /// Passed on after everything held.
    AfterHeld,
}

/// What the client side, waiting after a `Sync` (or a `Query`) inside a split, hears of its
/// `ReadyForQuery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncAnswered {
    /// Passed on: the client may go on.
    GoOn,
    /// The write is over (the status it left: `T`, or `E` after an error) and its
    /// `ReadyForQuery` is held: the proxy sends `COMMIT` or `ROLLBACK` next.
    Ended(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The proxy's `BEGIN` is on its way.
    Opening,
    /// The client's write, and whether its `Execute` (or `Query`) was sent.
    Running { executed: bool },
    /// The proxy's `COMMIT` or `ROLLBACK` is on its way.
    Closing,
}

/// One connection's split, if one is open, and its last transaction status.
#[derive(Debug, Default)]
pub struct Split {
    phase: Option<Phase>,
    /// The last `ReadyForQuery`'s status (0 before the first).
    status: u8,
}

impl Split {
    /// No transaction is open and no split either (a write sent now is an autocommit write).
    pub fn idle(&self) -> bool {
        self.phase.is_none() && self.status == b'I'
    }

    /// The proxy sent `BEGIN` ahead of a client's write.
    pub fn open(&mut self) {
        self.phase = Some(Phase::Opening);
    }

    /// The write was sent to be executed (`Execute`, or a `Query`).
    pub fn executed(&mut self) {
        match self.phase {
            Some(Phase::Running { .. }) | Some(Phase::Opening) => {
                self.phase = Some(Phase::Running { executed: true });
            }
            _ => {}
        }
    }

    /// Whether a `ReadyForQuery` the client asks for now is the split's: the client side
    /// waits for it before it sends more.
    pub fn open_for_client(&self) -> bool {
        matches!(self.phase, Some(Phase::Opening | Phase::Running { .. }))
    }

    /// The proxy sent `COMMIT` or `ROLLBACK`.
    pub fn close(&mut self) {
        self.phase = Some(Phase::Closing);
    }

    /// What becomes of a server message of `kind` (`body`: a `ReadyForQuery`'s status byte),
    /// and what the client side waiting after a `Sync` hears.
    pub fn heard(&mut self, kind: u8, body: &[u8]) -> (Pass, Option<SyncAnswered>) {
        let status = match kind {
            b'Z' => body.first().copied().unwrap_or(b'I'),
            _ => 0,
        };
        if kind == b'Z' {
            self.status = status;
        }
        match (self.phase, kind) {
            (None, _) => (Pass::Forward, None),
            (Some(Phase::Opening), b'C') => (Pass::Drop, None),
            (Some(Phase::Opening), b'Z') => {
                // The BEGIN's own answer: the client's write goes next (each statement is
                // answered before the next is let go, as the explorer lets them).
                self.phase = Some(Phase::Running { executed: false });
                (Pass::Drop, Some(SyncAnswered::GoOn))
            }
            (Some(Phase::Running { executed }), b'Z') => {
                if executed || status != b'T' {
                    (Pass::Drop, Some(SyncAnswered::Ended(status)))
                } else {
                    (Pass::Status(b'I'), Some(SyncAnswered::GoOn))
                }
            }
            (Some(Phase::Running { executed }), kind) if executed || kind == b'E' => {
                (Pass::Hold, None)
            }
            (Some(Phase::Closing), b'C') => (Pass::Drop, None),
            (Some(Phase::Closing), b'Z') => {
                self.phase = None;
                (Pass::AfterHeld, Some(SyncAnswered::GoOn))
            }
            (Some(Phase::Closing), _) => (Pass::Hold, None),
            _ => (Pass::Forward, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Pass, Split, SyncAnswered};

    fn opened() -> Split {
        let mut split = Split::default();
        assert_eq!(split.heard(b'Z', b"I"), (Pass::Forward, None));
        assert!(split.idle());
        split.open();
        assert!(!split.idle() && split.open_for_client());
        // BEGIN's tag and ReadyForQuery never reach the client.
        assert_eq!(split.heard(b'C', b"BEGIN\0"), (Pass::Drop, None));
        assert_eq!(
            split.heard(b'Z', b"T"),
            (Pass::Drop, Some(SyncAnswered::GoOn))
        );
        split
    }

    #[test]
    fn a_split_writes_answer_is_held_until_its_commit_ran() {
        let mut split = opened();
        // A driver's parse in a round trip of its own: idle, as without the BEGIN.
        assert_eq!(split.heard(b'1', b""), (Pass::Forward, None));
        assert_eq!(
            split.heard(b'Z', b"T"),
            (Pass::Status(b'I'), Some(SyncAnswered::GoOn))
        );
        split.executed();
        assert_eq!(split.heard(b'D', b""), (Pass::Hold, None));
        assert_eq!(split.heard(b'C', b"UPDATE 1\0"), (Pass::Hold, None));
        assert_eq!(
            split.heard(b'Z', b"T"),
            (Pass::Drop, Some(SyncAnswered::Ended(b'T')))
        );
        split.close();
        assert!(!split.open_for_client());
        assert_eq!(split.heard(b'C', b"COMMIT\0"), (Pass::Drop, None));
        assert_eq!(
            split.heard(b'Z', b"I"),
            (Pass::AfterHeld, Some(SyncAnswered::GoOn))
        );
        assert!(split.idle());
    }

    #[test]
    fn a_failed_write_ends_the_split_and_its_error_waits_for_the_rollback() {
        let mut split = opened();
        // A parse error before any Execute ends it too (the transaction is aborted).
        assert_eq!(split.heard(b'E', b"SERROR\0"), (Pass::Hold, None));
        assert_eq!(
            split.heard(b'Z', b"E"),
            (Pass::Drop, Some(SyncAnswered::Ended(b'E')))
        );
        split.close();
        assert_eq!(split.heard(b'C', b"ROLLBACK\0"), (Pass::Drop, None));
        assert_eq!(
            split.heard(b'Z', b"I"),
            (Pass::AfterHeld, Some(SyncAnswered::GoOn))
        );
    }
}
