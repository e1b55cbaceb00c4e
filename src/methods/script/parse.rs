//! The script language: the part of pgbench's that one increment needs, so that people who
//! know pgbench can write it at once.
//!
//! - One SQL statement per command, ending with `;` (it may span lines); `BEGIN`, `COMMIT`
//!   and `ROLLBACK` as written. Without `BEGIN` every statement runs in autocommit.
//! - `:name` is a variable, always sent as a bind parameter (never spliced into the text):
//!   `:id` is the counter's id, `:think_ms` the run's `--think-ms`; `\gset` (ending a
//!   statement instead of `;`, or on the line after it) stores the one row's columns as
//!   variables.
//! - `\sleep N [us|ms|s]` (or `\sleep :var ms`) pauses; `\refuse-if-zero-rows` after a
//!   statement refuses the attempt when it wrote no row (a lost optimistic race: `--retry`
//!   runs the script again).
//! - `-- written: var` names the variable holding the count the increment wrote; otherwise a
//!   `RETURNING count` makes it known.
//!
//! What only the database can say (a statement it rejects, the columns a `\gset` sets, and so
//! a variable used before it is set) is checked when a server starts, in `check.rs`.

use std::fmt;
use std::time::Duration;

use super::lex::{self, ScriptDialect};
use super::statement::{MAX_SLEEP, Pause, Statement};
pub use super::step::{Failure, Shortened, Step};

/// A parsed script: its text, and the steps each engine's SQL reads in it.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file as given, for messages and reports.
    pub file: String,
    /// The text, kept with the results: what exactly was measured.
    pub text: String,
    /// The script as each dialect's tokenizer reads it (they differ on quotes and comments:
    /// `$$` is a quote only in PostgreSQL, a backslash escapes only in MySQL's strings).
    readings: Vec<(ScriptDialect, Result<Reading, ScriptError>)>,
}

/// The script in one dialect: its steps, and which variable holds the count written.
#[derive(Debug, Clone)]
pub struct Reading {
    pub steps: Vec<Step>,
    /// `-- written: var`: the line and the variable holding the count written.
    pub written: Option<(usize, String)>,
}

/// A script that cannot run: the file, the line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScriptError {
    pub file: String,
    /// 0: the file as a whole.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file, self.message),
            line => write!(f, "{}:{line}: {}", self.file, self.message),
        }
    }
}

/// Variables every script has.
pub const PREDEFINED: [&str; 2] = ["id", "think_ms"];

impl Script {
    /// Parses `text`, read from `file`, in every dialect. It is an error when no dialect can
    /// read it (the PostgreSQL reading's error is given); a dialect that cannot is that
    /// engine's refusal, said when a server of that engine starts.
    pub fn parse(file: &str, text: &str) -> Result<Script, ScriptError> {
        let fail = |line: usize, message: String| ScriptError {
            file: file.to_string(),
            line,
            message,
        };
        if text.trim().is_empty() {
            return Err(fail(0, "the script is empty".into()));
        }
        let readings: Vec<_> = ScriptDialect::ALL
            .into_iter()
            .map(|dialect| {
                let reading = Reading::parse(text, dialect).map_err(|(line, msg)| fail(line, msg));
                (dialect, reading)
            })
            .collect();
        if let Some((_, Err(err))) = readings.first()
            && readings.iter().all(|(_, reading)| reading.is_err())
        {
            return Err(err.clone());
        }
        Ok(Script {
            file: file.to_string(),
            text: text.to_string(),
            readings,
        })
    }

    /// Reads and parses the file at `path`: at most [`MAX_SCRIPT_BYTES`], UTF-8 (the first
    /// line that is not is named).
    pub fn load(path: &std::path::Path) -> Result<Script, ScriptError> {
        let file = path.display().to_string();
        let fail = |line: usize, message: String| ScriptError {
            file: file.clone(),
            line,
            message,
        };
        let size =
            std::fs::metadata(path).map_err(|err| fail(0, format!("cannot read it: {err}")))?;
        if size.len() > MAX_SCRIPT_BYTES {
            let message = format!(
                "the script is {} bytes; scripts are limited to {MAX_SCRIPT_BYTES} bytes \
                 (one transaction of a request, not a program)",
                size.len()
            );
            return Err(fail(0, message));
        }
        let bytes = std::fs::read(path).map_err(|err| fail(0, format!("cannot read it: {err}")))?;
        let text = String::from_utf8(bytes).map_err(|err| {
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            fail(line, "this line is not valid UTF-8".into())
        })?;
        Script::parse(&file, &text)
    }

    /// The script as `dialect` reads it, or why that dialect cannot.
    pub fn reading(&self, dialect: ScriptDialect) -> Result<&Reading, &ScriptError> {
        let found = self.readings.iter().find(|(d, _)| *d == dialect);
        match found {
            Some((_, reading)) => reading.as_ref(),
            None => unreachable!("a script is read in every dialect"),
        }
    }
}

impl Reading {
    fn parse(text: &str, dialect: ScriptDialect) -> Result<Reading, Failure> {
        let pieces = lex::lex(text, dialect)?;
        let mut builder = super::build::Builder::default();
        for piece in pieces {
            builder.piece(piece)?;
        }
        let super::build::Builder {
            mut steps,
            mut written,
            ..
        } = builder.finish()?;
        // Names as the database keeps them (the binds are cut by the lexer).
        for step in &mut steps {
            if let Step::Sleep {
                pause: Pause::Variable { name, .. },
                ..
            } = step
            {
                *name = dialect.stored_name(name);
            }
        }
        if let Some((_, name)) = &mut written {
            *name = dialect.stored_name(name);
        }
        let commands = steps
            .iter()
            .filter(|step| {
                !matches!(
                    step,
                    Step::Begin { .. } | Step::Commit { .. } | Step::Rollback { .. }
                )
            })
            .count();
        if commands > MAX_SCRIPT_STATEMENTS {
            let message = format!(
                "the script has {commands} statements and sleeps; scripts are limited to \
                 {MAX_SCRIPT_STATEMENTS}"
            );
            return Err((0, message));
        }
        let slept: Duration = steps
            .iter()
            .filter_map(|step| match step {
                Step::Sleep {
                    pause: Pause::Fixed(pause),
                    ..
                } => Some(*pause),
                _ => None,
            })
            .sum();
        if slept > MAX_SLEEP {
            let message = format!(
                "the script sleeps {} s in all; a script may sleep at most {} s (a request is \
                 bounded by its deadline anyway)",
                slept.as_secs(),
                MAX_SLEEP.as_secs()
            );
            return Err((0, message));
        }
        super::build::check_structure(&steps)?;
        Ok(Reading { steps, written })
    }

    /// The SQL statements, in order.
    pub fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.steps.iter().filter_map(|step| match step {
            Step::Sql(statement) => Some(statement),
            _ => None,
        })
    }
}

/// The largest script file: a request's transaction fits in far less, and the check prepares
/// every statement at start-up (5 million `SELECT 1;` took a gigabyte and a minute).
pub const MAX_SCRIPT_BYTES: u64 = 1024 * 1024;
/// The most statements (and sleeps) a script may have.
pub const MAX_SCRIPT_STATEMENTS: usize = 1000;

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
