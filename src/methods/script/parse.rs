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

use super::lex::{self, Piece, ScriptDialect, is_identifier};
use super::statement::{self, Command, MAX_SLEEP, Pause, Statement, parse_sleep};

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

#[derive(Debug, Clone)]
pub enum Step {
    /// `BEGIN`: a transaction at the run's isolation level.
    Begin {
        line: usize,
    },
    Commit {
        line: usize,
    },
    Rollback {
        line: usize,
    },
    Sql(Statement),
    Sleep {
        line: usize,
        pause: Pause,
    },
}

impl Step {
    pub fn line(&self) -> usize {
        match self {
            Step::Begin { line }
            | Step::Commit { line }
            | Step::Rollback { line }
            | Step::Sleep { line, .. } => *line,
            Step::Sql(statement) => statement.line,
        }
    }
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

/// The meta-commands known, for the error naming an unknown one.
const META_COMMANDS: &str = "\\gset, \\sleep and \\refuse-if-zero-rows";

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
        let mut builder = Builder::default();
        for piece in pieces {
            builder.piece(piece)?;
        }
        let Builder {
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
        check_structure(&steps)?;
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

/// A parse error: the line and the message.
type Failure = (usize, String);

/// The steps, built from the lexer's pieces.
#[derive(Default)]
struct Builder {
    steps: Vec<Step>,
    written: Option<(usize, String)>,
    /// A statement not ended by `;`: only a `\gset` on its line may end it.
    pending: Option<lex::Lexed>,
}

impl Builder {
    fn piece(&mut self, piece: Piece) -> Result<(), Failure> {
        if let Some(pending) = self.pending.take() {
            let Piece::Meta { line, text } = piece else {
                return Err(no_ending(pending.line));
            };
            let (command, args) = meta_words(&text);
            if command != "gset" {
                return Err((
                    line,
                    format!("\\{command} inside a statement: end the statement with ; first"),
                ));
            }
            return self.statement(&pending, Some(gset_prefix(&args, line)?));
        }
        match piece {
            Piece::Comment { line, text } => self.comment(&text, line),
            Piece::Sql(lexed) if !lexed.terminated => {
                self.pending = Some(lexed);
                Ok(())
            }
            Piece::Sql(lexed) => self.statement(&lexed, None),
            Piece::Meta { line, text } => self.meta(&text, line),
        }
    }

    fn finish(self) -> Result<Builder, Failure> {
        match &self.pending {
            Some(pending) => Err(no_ending(pending.line)),
            None => Ok(self),
        }
    }

    fn statement(&mut self, lexed: &lex::Lexed, gset: Option<String>) -> Result<(), Failure> {
        let line = lexed.line;
        let command = statement::command(lexed, gset).map_err(|msg| (line, msg))?;
        self.steps.push(match command {
            Command::Begin => Step::Begin { line },
            Command::Commit => Step::Commit { line },
            Command::Rollback => Step::Rollback { line },
            Command::Sql(statement) => Step::Sql(statement),
        });
        Ok(())
    }

    /// A comment between statements: `-- written: var` names the variable holding the count
    /// written.
    fn comment(&mut self, text: &str, line: usize) -> Result<(), Failure> {
        let Some(rest) = text.trim().strip_prefix("written:") else {
            return Ok(());
        };
        let name = rest.trim().trim_start_matches(':');
        if !is_identifier(name) {
            return Err((
                line,
                format!(
                    "`-- written:` needs a variable name, got {:?}",
                    Shortened(name).to_string()
                ),
            ));
        }
        if let Some((first, _)) = &self.written {
            return Err((
                line,
                format!("a second `-- written:` (line {first} has one)"),
            ));
        }
        self.written = Some((line, name.to_string()));
        Ok(())
    }

    /// A meta-command on a line of its own: the text after the backslash.
    fn meta(&mut self, text: &str, line: usize) -> Result<(), Failure> {
        let (command, args) = meta_words(text);
        match command {
            "gset" => {
                let prefix = gset_prefix(&args, line)?;
                match self.steps.last_mut() {
                    Some(Step::Sql(statement)) if statement.gset.is_none() => {
                        statement.gset = Some(prefix);
                        statement.returns_rows = true;
                        Ok(())
                    }
                    _ => Err((line, "\\gset must follow a SQL statement".into())),
                }
            }
            "sleep" => {
                let pause = parse_sleep(&args).map_err(|msg| (line, msg))?;
                self.steps.push(Step::Sleep { line, pause });
                Ok(())
            }
            "refuse-if-zero-rows" => match self.steps.last_mut() {
                Some(Step::Sql(statement)) if args.is_empty() => {
                    statement.refuse_if_zero_rows = true;
                    Ok(())
                }
                _ if !args.is_empty() => {
                    Err((line, "\\refuse-if-zero-rows takes no argument".into()))
                }
                _ => Err((
                    line,
                    "\\refuse-if-zero-rows must follow a SQL statement".into(),
                )),
            },
            other => Err((
                line,
                format!(
                    "unknown meta-command \\{}: counter's scripts know {META_COMMANDS}",
                    Shortened(other)
                ),
            )),
        }
    }
}

/// A meta-command's name and arguments.
fn meta_words(text: &str) -> (&str, Vec<&str>) {
    let mut words = text.split_whitespace();
    let command = words.next().unwrap_or("");
    (command, words.collect())
}

fn gset_prefix(args: &[&str], line: usize) -> Result<String, Failure> {
    match args {
        [] => Ok(String::new()),
        [prefix] if is_identifier(prefix) => Ok((*prefix).to_string()),
        _ => Err((line, "\\gset takes at most a prefix (a name)".into())),
    }
}

fn no_ending(line: usize) -> Failure {
    (
        line,
        "the statement that begins here has no ending ; (or \\gset)".into(),
    )
}

/// A name or word from the script, cut to a length a message can carry (a 70,000-character
/// name was once echoed whole).
pub struct Shortened<'a>(pub &'a str);

impl fmt::Display for Shortened<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LONGEST: usize = 64;
        match self.0.char_indices().nth(LONGEST) {
            Some((cut, _)) => write!(f, "{}...", &self.0[..cut]),
            None => f.write_str(self.0),
        }
    }
}

/// Transactions must open and close in order, and there must be something to run.
fn check_structure(steps: &[Step]) -> Result<(), Failure> {
    let mut open: Option<usize> = None;
    for step in steps {
        match step {
            Step::Begin { line } => {
                if let Some(first) = open {
                    return Err((
                        *line,
                        format!("BEGIN inside the transaction begun on line {first}"),
                    ));
                }
                open = Some(*line);
            }
            Step::Commit { line } | Step::Rollback { line } => {
                if open.take().is_none() {
                    return Err((*line, "COMMIT or ROLLBACK without BEGIN".into()));
                }
            }
            Step::Sql(_) | Step::Sleep { .. } => {}
        }
    }
    if let Some(line) = open {
        return Err((line, "the transaction begun here is never committed".into()));
    }
    if !steps.iter().any(|step| matches!(step, Step::Sql(_))) {
        return Err((0, "the script has no SQL statement".into()));
    }
    Ok(())
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
