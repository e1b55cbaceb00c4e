//! One SQL statement as a session sends it, what it answered, and the [`Observer`] that may
//! watch and pace every statement of a session.
//!
//! This is the seam the schedule explorer steps through: every statement of every engine's
//! session goes through one function (`engines/wire.rs`), which hands it to the session's
//! observer before sending it and after its answer. A server run has no observer.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use super::failure::DbFailure;

/// What a statement can do to other sessions: the explorer makes a choice only before
/// statements another session could notice, and looks again at blocked sessions after one
/// that may let go of a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing another session can see or wait for: `BEGIN` (no snapshot is taken until the
    /// first query), `SAVEPOINT`, `RELEASE SAVEPOINT`, `SET TRANSACTION`, reading back
    /// `LAST_INSERT_ID()`.
    Local,
    /// A read that takes no lock.
    Reads,
    /// A write, a locking read, or taking a lock.
    Writes,
    /// Ends a transaction or lets go of a lock (`COMMIT`, `ROLLBACK`, `UNLOCK TABLES`,
    /// `RELEASE_LOCK`): a session waiting for it may go on.
    Releases,
}

/// How a statement's answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// Nothing but success or failure (`BEGIN`, `COMMIT`, `LOCK TABLES`: the row count an
    /// engine reports for these is not theirs; SQLite's is the previous statement's).
    Nothing,
    /// The rows it wrote.
    Written,
    /// The rows it answered with (their number, and the first one's columns).
    Rows,
}

/// One SQL statement with its bound values. The text is one of an engine's fixed statements,
/// or a statement of a user's script (checked by the database before any request); values
/// always travel as bind parameters, never in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: Cow<'static, str>,
    pub binds: Vec<Option<i64>>,
    pub effect: Effect,
    pub fetch: Fetch,
}

impl Statement {
    /// A fixed statement of an engine.
    pub fn fixed(sql: &'static str, binds: &[i64], effect: Effect, fetch: Fetch) -> Statement {
        Statement {
            sql: Cow::Borrowed(sql),
            binds: binds.iter().copied().map(Some).collect(),
            effect,
            fetch,
        }
    }

    /// A fixed statement without values whose answer is not read (`BEGIN`, `COMMIT`, ...).
    pub fn control(sql: &'static str, effect: Effect) -> Statement {
        Statement::fixed(sql, &[], effect, Fetch::Nothing)
    }

    /// The text with its values written in, for people (transcripts, specs): `$1`/`?N`/`?`
    /// replaced by the bound values in order. Never sent to a database.
    pub fn shown(&self) -> String {
        values_written_in(&self.sql, |index| match self.binds.get(index) {
            Some(Some(v)) => Some(v.to_string()),
            Some(None) => Some("NULL".to_string()),
            None => None,
        })
    }
}

/// `sql` with its placeholders (`$1`, `?1`, or `?` in order) outside quotes replaced by
/// `value(index)` as SQL text, `?` where there is none: for people, never sent.
pub fn values_written_in(sql: &str, value: impl Fn(usize) -> Option<String>) -> String {
    let mut shown = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut next_positional = 0;
    let value = |index: usize| value(index).unwrap_or_else(|| "?".to_string());
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(open), _) if c == open => {
                quote = None;
                shown.push(c);
            }
            (Some(_), _) => shown.push(c),
            (None, '\'' | '"' | '`') => {
                quote = Some(c);
                shown.push(c);
            }
            (None, '$' | '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                match digits.parse::<usize>() {
                    Ok(n) if n >= 1 => shown.push_str(&value(n - 1)),
                    _ if c == '?' => {
                        shown.push_str(&value(next_positional));
                        next_positional += 1;
                    }
                    _ => {
                        shown.push(c);
                        shown.push_str(&digits);
                    }
                }
            }
            _ => shown.push(c),
        }
    }
    shown
}

/// What a statement answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// Rows written, or for [`Fetch::Rows`], rows returned.
    pub rows: u64,
    /// The first row's columns: each name with its value as an integer, or the column's type
    /// when it is not one.
    pub first_row: Vec<(String, Result<Option<i64>, String>)>,
}

impl Answer {
    /// The first column of the first row, when there is a row and it is an integer.
    pub fn scalar(&self) -> Option<i64> {
        match self.first_row.first() {
            Some((_, Ok(value))) => *value,
            _ => None,
        }
    }

    /// Whether the statement answered with at least one row.
    pub fn has_row(&self) -> bool {
        !self.first_row.is_empty()
    }
}

/// What the session does with an answer once its observer has seen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Hand it to the method.
    Deliver,
    /// Send the same statement again once the observer lets it (the explorer, for a step that
    /// would have blocked: SQLite answers `SQLITE_BUSY` at once where a server would wait).
    Resend,
}

/// A boxed future, as an object-safe trait needs.
pub type Pending<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Watches every statement of one session, and may hold each one back until it may go.
pub trait Observer: Send + Sync {
    /// Called before `statement` is sent; it is sent when the returned future is ready.
    fn before<'a>(&'a self, statement: &'a Statement) -> Pending<'a>;
    /// Called with the answer (or the classified error) of `statement`.
    fn after(&self, statement: &Statement, answer: &Result<Answer, DbFailure>) -> Then;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_writes_the_values_in_for_every_placeholder_style() {
        let cases = [
            (
                "UPDATE counter SET count = $2 WHERE id = $1",
                vec![4, 7],
                "UPDATE counter SET count = 7 WHERE id = 4",
            ),
            (
                "UPDATE counter SET count = ?2 WHERE id = ?1",
                vec![4, 7],
                "UPDATE counter SET count = 7 WHERE id = 4",
            ),
            (
                "UPDATE counter SET count = ? WHERE id = ?",
                vec![7, 4],
                "UPDATE counter SET count = 7 WHERE id = 4",
            ),
            ("SELECT '$1', ? FROM t", vec![3], "SELECT '$1', 3 FROM t"),
            ("SELECT $1::bigint", vec![9], "SELECT 9::bigint"),
        ];
        for (sql, binds, shown) in cases {
            let statement = Statement {
                sql: Cow::Borrowed(sql),
                binds: binds.into_iter().map(Some).collect(),
                effect: Effect::Writes,
                fetch: Fetch::Written,
            };
            assert_eq!(statement.shown(), shown, "{sql}");
        }
    }
}
