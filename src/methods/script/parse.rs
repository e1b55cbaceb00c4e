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

use super::statement::{self, Command, Pause, Statement, is_identifier, parse_sleep};

/// A parsed script.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file as given, for messages and reports.
    pub file: String,
    /// The text, kept with the results: what exactly was measured.
    pub text: String,
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
    /// Parses `text`, read from `file`.
    pub fn parse(file: &str, text: &str) -> Result<Script, ScriptError> {
        let fail = |line: usize, message: String| ScriptError {
            file: file.to_string(),
            line,
            message,
        };
        if text.trim().is_empty() {
            return Err(fail(0, "the script is empty".into()));
        }
        let mut parser = Parser::default();
        parser.scan(text).map_err(|(line, msg)| fail(line, msg))?;
        let Parser { steps, written, .. } = parser;
        let statements = steps
            .iter()
            .filter(|step| matches!(step, Step::Sql(_)))
            .count();
        if statements > MAX_SCRIPT_STATEMENTS {
            let message = format!(
                "the script has {statements} statements; scripts are limited to \
                 {MAX_SCRIPT_STATEMENTS}"
            );
            return Err(fail(0, message));
        }
        check_structure(&steps).map_err(|(line, msg)| fail(line, msg))?;
        Ok(Script {
            file: file.to_string(),
            text: text.to_string(),
            steps,
            written,
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
/// The most statements a script may have.
pub const MAX_SCRIPT_STATEMENTS: usize = 1000;

/// A parse error: the line and the message.
type Failure = (usize, String);

#[derive(Default)]
struct Parser {
    steps: Vec<Step>,
    written: Option<(usize, String)>,
    /// The statement being read and the line it began on.
    buffer: String,
    started: usize,
}

/// Where the scanner is inside a statement's text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    /// Inside '...', "..." or `...`.
    In(char),
}

impl Parser {
    fn scan(&mut self, text: &str) -> Result<(), Failure> {
        let mut quote = Quote::None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let mut chars = raw.char_indices().peekable();
            while let Some((at, c)) = chars.next() {
                match (quote, c) {
                    (Quote::In(open), _) => {
                        if c == open {
                            quote = Quote::None;
                        }
                        self.push(c, line);
                    }
                    (Quote::None, '\'' | '"' | '`') => {
                        quote = Quote::In(c);
                        self.push(c, line);
                    }
                    (Quote::None, '-') if chars.peek().map(|&(_, n)| n) == Some('-') => {
                        if self.buffer.trim().is_empty() {
                            self.comment(&raw[at + 2..], line)?;
                        }
                        break;
                    }
                    (Quote::None, ';') => self.end_statement(None)?,
                    (Quote::None, '\\') => {
                        self.meta(&raw[at + 1..], line)?;
                        break;
                    }
                    _ => self.push(c, line),
                }
            }
            self.push('\n', line);
        }
        if quote != Quote::None {
            return Err((self.started, "a quote opened here is never closed".into()));
        }
        if !self.buffer.trim().is_empty() {
            return Err((
                self.started,
                "the statement that begins here has no ending ; (or \\gset)".into(),
            ));
        }
        Ok(())
    }

    fn push(&mut self, c: char, line: usize) {
        if self.buffer.trim().is_empty() && !c.is_whitespace() {
            self.buffer.clear();
            self.started = line;
        }
        self.buffer.push(c);
    }

    /// A comment line: `-- written: var` names the variable holding the count written.
    fn comment(&mut self, text: &str, line: usize) -> Result<(), Failure> {
        let Some(rest) = text.trim().strip_prefix("written:") else {
            return Ok(());
        };
        let name = rest.trim().trim_start_matches(':');
        if !is_identifier(name) {
            return Err((
                line,
                format!("`-- written:` needs a variable name, got {name:?}"),
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

    /// The buffer holds a whole statement (ended by `;`, or by `\gset` with its prefix).
    fn end_statement(&mut self, gset: Option<String>) -> Result<(), Failure> {
        let text = std::mem::take(&mut self.buffer);
        let line = self.started;
        if text.trim().is_empty() {
            return match gset {
                Some(_) => Err((line, "\\gset must follow a SQL statement".into())),
                None => Ok(()),
            };
        }
        let step = match statement::command(text.trim(), line, gset).map_err(|msg| (line, msg))? {
            Command::Begin => Step::Begin { line },
            Command::Commit => Step::Commit { line },
            Command::Rollback => Step::Rollback { line },
            Command::Sql(statement) => Step::Sql(statement),
        };
        self.steps.push(step);
        Ok(())
    }

    /// A meta-command: the text after the backslash, to the end of the line.
    fn meta(&mut self, text: &str, line: usize) -> Result<(), Failure> {
        let mut words = text.split_whitespace();
        let command = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let pending = !self.buffer.trim().is_empty();
        match command {
            "gset" => {
                let prefix = match args.as_slice() {
                    [] => String::new(),
                    [prefix] if is_identifier(prefix) => (*prefix).to_string(),
                    _ => return Err((line, "\\gset takes at most a prefix (a name)".into())),
                };
                if pending {
                    return self.end_statement(Some(prefix));
                }
                match self.steps.last_mut() {
                    Some(Step::Sql(statement)) if statement.gset.is_none() => {
                        statement.gset = Some(prefix);
                        statement.returns_rows = true;
                        Ok(())
                    }
                    _ => Err((line, "\\gset must follow a SQL statement".into())),
                }
            }
            _ if pending => Err((
                line,
                format!("\\{command} inside a statement: end the statement with ; first"),
            )),
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
                format!("unknown meta-command \\{other}: counter's scripts know {META_COMMANDS}"),
            )),
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
