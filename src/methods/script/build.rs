//! A script's steps, built from the lexer's pieces in order: statements (with the `\gset` that
//! may end one), meta-commands, `-- written:` comments; then the transactions checked to open
//! and close in order.

use super::lex::{self, Piece, is_identifier};
use super::statement::{self, Command, parse_sleep};
use super::step::{Failure, Shortened, Step};

/// The meta-commands known, for the error naming an unknown one.
const META_COMMANDS: &str = "\\gset, \\sleep and \\refuse-if-zero-rows";

/// The steps, built from the lexer's pieces.
#[derive(Default)]
pub(super) struct Builder {
    pub steps: Vec<Step>,
    pub written: Option<(usize, String)>,
    /// A statement not ended by `;`: only a `\gset` on its line may end it.
    pending: Option<lex::Lexed>,
}

impl Builder {
    pub fn piece(&mut self, piece: Piece) -> Result<(), Failure> {
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

    pub fn finish(self) -> Result<Builder, Failure> {
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

/// Transactions must open and close in order, and there must be something to run.
pub(super) fn check_structure(steps: &[Step]) -> Result<(), Failure> {
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
