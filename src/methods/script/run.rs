//! One increment by a user's script: the row exists first (created at 0 if missing, outside
//! the script, as the built-in methods' get-or-create does), then the steps run in order on one
//! connection, every variable bound as a parameter.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use super::parse::{Script, Step};
use super::statement::{Pause, Statement};
use crate::methods::get_or_create::get_or_create;
use crate::methods::session::{Guard, MethodContext, Placeholders, Read, Session};
use crate::methods::span::Span;
use crate::model::statement::{Effect, Fetch, Statement as Sent};
use crate::model::{DbFailure, ErrorClass, IncrementError};

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
    get_or_create(session, id, Read::Plain).await?;
    span.begin();
    let mut run = Run::new(id, ctx.think);
    let result = run.steps(session, script).await;
    if run.in_transaction {
        session.rollback().await;
    }
    result?;
    Ok(match &script.written {
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
    /// Whether a statement that may write already committed on its own (autocommit): a later
    /// failure cannot then say "nothing was applied".
    committed_alone: bool,
    /// The `count` column of the last `RETURNING`.
    returned_count: Option<i64>,
}

impl Run {
    fn new(id: i64, think: Duration) -> Run {
        let think_ms = i64::try_from(think.as_millis()).unwrap_or(i64::MAX);
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
        }
    }

    async fn steps<S: Session>(
        &mut self,
        session: &mut S,
        script: &Script,
    ) -> Result<(), IncrementError> {
        for step in &script.steps {
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
                    tokio::time::sleep(pause).await;
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
        let sql = match S::PLACEHOLDERS {
            Placeholders::Numbered => &statement.numbered,
            Placeholders::Positional => &statement.positional,
        };
        let sent = Sent {
            sql: Cow::Owned(sql.clone()),
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
        let answered = session.run_script(sent).await;
        let answer = answered.map_err(|err| self.database(line, err))?;
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
                        "\\gset: column {name} is {kind}, not an integer (cast it to BIGINT)"
                    );
                    self.script_failed(line, message)
                })?;
                self.vars.insert(format!("{prefix}{name}"), value);
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
            None => Err(self.script_failed(line, format!("variable :{name} is not set"))),
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
                    .filter(|pause| *pause <= Duration::from_secs(60));
                pause.ok_or_else(|| {
                    let message = format!("\\sleep :{name} is {value}, not a pause up to 60 s");
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
    /// error the database answered with its code (a division by zero, a missing column) is
    /// the script's failure: the statement did nothing and its transaction rolls back, so it
    /// is a 409, not the server's 500. An error with no code (the connection broke) stays
    /// what it is: whether a statement sent then was applied is not known.
    fn database(&self, line: usize, failure: DbFailure) -> IncrementError {
        let answered = failure.class == ErrorClass::Internal && failure.sqlstate.is_some();
        if !answered {
            return self.failed(line, IncrementError::Database(failure));
        }
        let code = failure.sqlstate.as_deref().unwrap_or_default();
        let failed = IncrementError::ScriptFailed {
            line,
            message: format!("the database refused it ({code}: {})", failure.message),
            failure: Some(Box::new(failure)),
        };
        self.failed(line, failed)
    }

    /// `err` at `line`, unless a statement already committed on its own: then nothing can be
    /// said about what was applied.
    fn failed(&self, line: usize, err: IncrementError) -> IncrementError {
        if self.committed_alone {
            return IncrementError::ScriptPartlyApplied {
                line,
                cause: err.to_string(),
            };
        }
        err
    }
}
