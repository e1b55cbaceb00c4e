//! The custom method (method 12, `--method-file`): a user's script (`methods/script/`, the
//! language) prepared on the database before any request (`check.rs`), and run here.
//!
//! One increment by a user's script: the row exists first (created at 0 if missing, outside
//! the script, as the built-in methods' get-or-create does), then the steps run in order on one
//! connection, every variable bound as a parameter.
//!
//! The script is checked at run time against what the database reports, not what its text
//! says: after each statement, whether the transaction is where counter left it (a hidden
//! `COMMIT`, `COMMIT AND CHAIN` or `BEGIN` is refused for that request, and the answer says
//! truthfully whether anything stayed applied); outside a transaction and before `COMMIT`,
//! the level the database says it runs at (a script that changed it is refused before its
//! transaction commits); and the increment's deadline (the running statement is cancelled
//! and the transaction rolled back, whatever the script set as its own timeout).

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

pub mod check;
mod checks;
mod deadline;

pub use check::check;

use crate::methods::get_or_create::get_or_create;
use crate::methods::script::parse::{Reading, Script, Shortened, Step};
use crate::methods::script::statement::{Pause, Statement};
use crate::methods::session::{Guard, MethodContext, Read, Session};
use crate::methods::span::Span;
use crate::model::statement::{Effect, Fetch, Statement as Sent};
use crate::model::{DbFailure, ErrorClass, IncrementError, Isolation, IsolationScope};

pub use deadline::CANCEL_GRACE;

/// Runs `script` once for counter `id`; returns the count written when the script makes it
/// known (`-- written: var`, or a `RETURNING count`). Whatever fails, an open transaction is
/// rolled back.
pub async fn increment<S: Session>(
    session: &mut S,
    ctx: &MethodContext,
    script: &Script,
    id: i64,
    span: &Span,
) -> Result<Option<i64>, IncrementError> {
    let reading = script.reading(S::DIALECT).map_err(|err| {
        IncrementError::NotApplicable(format!("{}{err}", crate::methods::script::REFUSED))
    })?;
    let mut run = Run::new(id, ctx, span.deadline());
    run.before(0)?;
    get_or_create(session, id, Read::Plain).await?;
    span.begin();
    let result = run.steps(session, reading).await;
    if run.in_transaction {
        session.rollback().await;
    }
    result?;
    Ok(match &reading.written {
        Some((_, name)) => run.vars.get(name).copied().flatten(),
        None => run.returned_count,
    })
}

/// The state of one run of a script.
struct Run {
    /// The counter's id (also the variable `:id`).
    id: i64,
    vars: HashMap<String, Option<i64>>,
    in_transaction: bool,
    /// Whether something of the script is committed already (an autocommit write, or a
    /// commit the script made itself): a later failure cannot then say "nothing was applied".
    committed_alone: bool,
    /// The `count` column of the last `RETURNING`.
    returned_count: Option<i64>,
    /// The level a transaction of this run must run at.
    level: Isolation,
    scope: IsolationScope,
    /// The level the connection showed before the script's first statement, outside a
    /// transaction: the one autocommit statements run at.
    idle_level: Option<Isolation>,
    deadline: Option<(Instant, Duration)>,
}

impl Run {
    fn new(id: i64, ctx: &MethodContext, deadline: Option<Instant>) -> Run {
        let think_ms = i64::try_from(ctx.think.as_millis()).unwrap_or(i64::MAX);
        let vars = HashMap::from([
            ("id".to_string(), Some(id)),
            ("think_ms".to_string(), Some(think_ms)),
        ]);
        Run {
            id,
            vars,
            in_transaction: false,
            committed_alone: false,
            returned_count: None,
            level: ctx.isolation,
            scope: ctx.scope,
            idle_level: None,
            deadline: deadline.zip(ctx.deadline),
        }
    }

    async fn steps<S: Session>(
        &mut self,
        session: &mut S,
        reading: &Reading,
    ) -> Result<(), IncrementError> {
        let first = reading.steps.first().map_or(0, Step::line);
        self.idle_level = session
            .isolation_now()
            .await
            .map_err(|e| self.database(first, e))?;
        if let Some(found) = self.idle_level
            && self.scope == IsolationScope::Session
            && found != self.level
        {
            return Err(self.level_changed(first, found));
        }
        for step in &reading.steps {
            self.before(step.line())?;
            match step {
                Step::Begin { line } => {
                    let begun = session.begin(Guard::Nothing, self.id).await;
                    begun.map_err(|err| match err {
                        IncrementError::Database(failure) => self.database(*line, failure),
                        err => self.failed(*line, err),
                    })?;
                    self.in_transaction = true;
                }
                Step::Commit { line } => {
                    self.check_level(session, *line, self.level).await?;
                    self.in_transaction = false;
                    let committed = session.commit().await;
                    committed.map_err(|err| self.database(*line, err))?;
                }
                Step::Rollback { .. } => {
                    session.rollback().await;
                    self.in_transaction = false;
                }
                Step::Sleep { line, pause } => {
                    let pause = self.pause(*line, pause)?;
                    self.sleep(*line, pause).await?;
                }
                Step::Sql(statement) => self.statement(session, statement).await?,
            }
        }
        Ok(())
    }

    async fn statement<S: Session>(
        &mut self,
        session: &mut S,
        statement: &Statement,
    ) -> Result<(), IncrementError> {
        let line = statement.line;
        let binds = statement
            .binds
            .iter()
            .map(|name| self.value(line, name))
            .collect::<Result<Vec<_>, _>>()?;
        let sent = Sent {
            sql: Cow::Owned(statement.sql.clone()),
            binds,
            effect: match statement.reads_only && !statement.takes_locks {
                true => Effect::Reads,
                false => Effect::Writes,
            },
            fetch: match statement.returns_rows {
                true => Fetch::Rows,
                false => Fetch::Written,
            },
        };
        let writes = sent.effect == Effect::Writes;
        let answered = self.send(session, line, sent, writes).await?;
        let (answer, report) = answered.map_err(|err| self.database(line, err))?;
        self.check_transaction(line, report)?;
        if !self.in_transaction {
            self.check_level(session, line, self.idle_level.unwrap_or(self.level))
                .await?;
        }
        if statement.returning {
            let count = answer
                .first_row
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("count"));
            if let Some((_, Ok(value))) = count {
                self.returned_count = *value;
            }
        }
        if let Some(prefix) = &statement.gset {
            if answer.rows != 1 {
                let message = format!(
                    "\\gset expects one row, the statement returned {}",
                    answer.rows
                );
                return Err(self.script_failed(line, message));
            }
            for (name, value) in answer.first_row {
                let value = value.map_err(|kind| {
                    let message = format!(
                        "\\gset: column {} is {kind}, not an integer (cast it to BIGINT)",
                        Shortened(&name)
                    );
                    self.script_failed(line, message)
                })?;
                self.vars
                    .insert(S::DIALECT.stored_name(&format!("{prefix}{name}")), value);
            }
        }
        if statement.refuse_if_zero_rows && answer.rows == 0 {
            return Err(self.failed(line, IncrementError::ScriptRefused { line }));
        }
        // Rows written in autocommit stay written whatever comes next.
        if !self.in_transaction && !statement.reads_only && answer.rows > 0 {
            self.committed_alone = true;
        }
        Ok(())
    }

    fn value(&self, line: usize, name: &str) -> Result<Option<i64>, IncrementError> {
        match self.vars.get(name) {
            Some(value) => Ok(*value),
            // The check at start-up makes this impossible; kept as an error, not a panic.
            None => {
                Err(self.script_failed(line, format!("variable :{} is not set", Shortened(name))))
            }
        }
    }

    fn pause(&self, line: usize, pause: &Pause) -> Result<Duration, IncrementError> {
        match pause {
            Pause::Fixed(pause) => Ok(*pause),
            Pause::Variable { name, unit } => {
                let value = self.value(line, name)?.unwrap_or(0);
                let pause = u32::try_from(value)
                    .ok()
                    .and_then(|n| unit.checked_mul(n))
                    .filter(|pause| *pause <= crate::methods::script::statement::MAX_SLEEP);
                pause.ok_or_else(|| {
                    let message = format!(
                        "\\sleep :{} is {value}, not a pause up to 60 s",
                        Shortened(name)
                    );
                    self.script_failed(line, message)
                })
            }
        }
    }

    fn script_failed(&self, line: usize, message: String) -> IncrementError {
        let failed = IncrementError::ScriptFailed {
            line,
            message,
            failure: None,
        };
        self.failed(line, failed)
    }

    /// The database's error at `line`. A refusal (40001, a deadlock, ...) stays one. Any other
    /// error the database answered with its code (a division by zero, a missing column, a
    /// privilege the script's role lacks) is the script's failure: the statement did nothing
    /// and its transaction rolls back, so it is a 409, not the server's 500. An error with no
    /// code (the connection broke) stays what it is: whether a statement sent then was
    /// applied is not known.
    fn database(&self, line: usize, failure: DbFailure) -> IncrementError {
        let answered = failure.class == ErrorClass::Internal && failure.code.is_some();
        if !answered {
            return self.failed(line, IncrementError::Database(failure));
        }
        let code = (failure.sqlstate.as_deref().or(failure.code.as_deref())).unwrap_or_default();
        let failed = IncrementError::ScriptFailed {
            line,
            message: format!("the database refused it ({code}: {})", failure.message),
            failure: Some(Box::new(failure)),
        };
        self.failed(line, failed)
    }

    /// `err` at `line`, unless something of the script is committed already: then nothing
    /// can be said about what was applied.
    fn failed(&self, line: usize, err: IncrementError) -> IncrementError {
        if !self.committed_alone {
            return err;
        }
        let cause = match err {
            IncrementError::ScriptFailed { message, .. } => message,
            IncrementError::DeadlineExceeded { after, .. } => format!(
                "the script ran past its deadline of {} ms, after a part of it was committed",
                after.as_millis()
            ),
            other => format!("{other}, after a part of the script was committed"),
        };
        IncrementError::ScriptPartlyApplied { line, cause }
    }
}
