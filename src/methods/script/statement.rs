//! One command of a script, once the tokenizer has read it: whether it opens or ends a
//! transaction, or is a statement to send (with what it returns and whether it writes or
//! locks); and a `\sleep`'s pause.
//!
//! What the text shows is only a first, friendly check: a statement that changes the schema,
//! the transaction or the level is refused here with its line, but the real guards are the
//! database's privileges (the role scripts run as) and the run-time checks of `run.rs` (the
//! transaction state and the level the database reports after each statement).

use std::time::Duration;

use sqlparser::tokenizer::Token;

use super::lex::{Lexed, is_identifier};

/// A command, once its text is read.
#[derive(Debug, Clone)]
pub enum Command {
    Begin,
    Commit,
    Rollback,
    Sql(Statement),
}

/// One SQL statement of a script.
#[derive(Debug, Clone)]
pub struct Statement {
    pub line: usize,
    /// The text in its engine's placeholders (`$1` for PostgreSQL, `?` for the others).
    pub sql: String,
    /// The variables bound, in order of appearance.
    pub binds: Vec<String>,
    /// `\gset [prefix]`: store the one row's columns as variables.
    pub gset: Option<String>,
    pub refuse_if_zero_rows: bool,
    /// Whether it answers with rows (a query, `RETURNING`, `\gset`): counter then reads them,
    /// and "rows" means rows returned instead of rows written.
    pub returns_rows: bool,
    /// Whether it has `RETURNING` (whose `count` column is the count written).
    pub returning: bool,
    /// Whether it can only read (a query without `RETURNING`): in autocommit, nothing it did
    /// stays written if a later statement fails.
    pub reads_only: bool,
    /// Whether it takes a lock (`FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`, an advisory
    /// or named lock): another session may then have to wait for it.
    pub takes_locks: bool,
}

/// How long a `\sleep` pauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pause {
    Fixed(Duration),
    /// A variable's value, times the unit.
    Variable {
        name: String,
        unit: Duration,
    },
}

/// Statements that change the schema or the server: a script runs on every request, and
/// their effect would outlive it.
const SCHEMA: [&str; 15] = [
    "CREATE", "ALTER", "DROP", "TRUNCATE", "GRANT", "REVOKE", "RENAME", "COMMENT", "REINDEX",
    "CLUSTER", "VACUUM", "SECURITY", "REASSIGN", "IMPORT", "REFRESH",
];

/// Statements whose SQL counter cannot see (it is built at run time, or runs as a program):
/// whatever they do would escape every check of the text.
const HIDDEN: [&str; 5] = ["DO", "EXECUTE", "PREPARE", "DEALLOCATE", "XA"];

/// Statements that reach other sessions or the server's files.
const BEYOND: [&str; 5] = ["KILL", "LOAD", "SHUTDOWN", "INSTALL", "UNINSTALL"];

/// What one command of a script is: a transaction's bounds, or a statement with its
/// variables bound (`gset`: the `\gset` prefix that ended it, if one did). The isolation level
/// is the run's: a script cannot set it.
pub fn command(lexed: &Lexed, gset: Option<String>) -> Result<Command, String> {
    // `$1` is a placeholder in PostgreSQL's tokens and a name in MySQL's: refused in both.
    let placeholder = lexed.tokens.iter().find_map(|token| match token {
        Token::Placeholder(placeholder) => Some(placeholder.as_str()),
        Token::Word(word)
            if word.quote_style.is_none()
                && word
                    .value
                    .strip_prefix('$')
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())) =>
        {
            Some(word.value.as_str())
        }
        _ => None,
    });
    if let Some(placeholder) = placeholder {
        return Err(format!(
            "write variables as :name; counter numbers the placeholders itself (found \
             {placeholder})"
        ));
    }
    let head = lexed.head(4);
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    if let Some(control) = transaction_control(&head)? {
        return match gset {
            Some(_) => Err("\\gset must follow a statement that returns a row".into()),
            None => Ok(control),
        };
    }
    refuse_by_kind(lexed, &head)?;
    let words: Vec<String> = lexed.words().collect();
    let first = head.first().copied();
    let query = matches!(
        first,
        Some("SELECT" | "WITH" | "VALUES" | "SHOW" | "TABLE" | "EXPLAIN")
    );
    // `WITH` may hold an UPDATE: not counted as only reading.
    let reads = matches!(
        first,
        Some("SELECT" | "VALUES" | "SHOW" | "TABLE" | "EXPLAIN")
    );
    let returning = words.iter().any(|word| word == "RETURNING");
    Ok(Command::Sql(Statement {
        line: lexed.line,
        sql: lexed.sql.clone(),
        binds: lexed.binds.clone(),
        returns_rows: query || returning || gset.is_some(),
        gset,
        refuse_if_zero_rows: false,
        returning,
        reads_only: reads && !returning,
        takes_locks: takes_locks(&words),
    }))
}

/// `BEGIN`, `COMMIT` and `ROLLBACK` in each of their spellings; an error for the forms whose
/// transaction would not be counter's (chained, prepared, with a level of its own).
fn transaction_control(head: &[&str]) -> Result<Option<Command>, String> {
    const CHAINED: &str = "a chained transaction outlives the one counter opened: end it with \
                           COMMIT (or ROLLBACK) alone";
    const TWO_PHASE: &str = "a prepared (two-phase) transaction outlives the request: end the \
                             transaction with COMMIT (or ROLLBACK) alone";
    let control = match head {
        ["BEGIN"] | ["BEGIN", "WORK" | "TRANSACTION"] | ["START", "TRANSACTION"] => Command::Begin,
        ["BEGIN", ..] | ["START", "TRANSACTION", ..] => {
            return Err(
                "write BEGIN alone: counter opens the transaction at the run's isolation level"
                    .into(),
            );
        }
        ["COMMIT" | "END" | "ROLLBACK" | "ABORT", "PREPARED", ..]
        | ["PREPARE", "TRANSACTION", ..]
        | ["XA", ..] => return Err(TWO_PHASE.into()),
        ["ROLLBACK", "TO", ..] => return Ok(None),
        [first @ ("COMMIT" | "END" | "ROLLBACK" | "ABORT"), rest @ ..] => {
            let rest: Vec<&str> = rest
                .iter()
                .copied()
                .skip_while(|word| matches!(*word, "WORK" | "TRANSACTION"))
                .collect();
            match rest.as_slice() {
                [] | ["AND", "NO", ..] => {}
                ["AND", ..] => return Err(CHAINED.into()),
                _ => {
                    return Err(format!(
                        "write {first} alone: counter ends the transaction it opened"
                    ));
                }
            }
            match *first {
                "COMMIT" | "END" => Command::Commit,
                _ => Command::Rollback,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(control))
}

/// The kinds of statement a script may not send, with why.
fn refuse_by_kind(lexed: &Lexed, head: &[&str]) -> Result<(), String> {
    let first = head.first().copied().unwrap_or_default();
    let level_words = [
        "TRANSACTION_ISOLATION",
        "DEFAULT_TRANSACTION_ISOLATION",
        "TX_ISOLATION",
    ];
    match head {
        ["SET", "TRANSACTION", ..]
        | [
            "SET",
            "SESSION" | "GLOBAL" | "LOCAL",
            "CHARACTERISTICS" | "TRANSACTION",
            ..,
        ] => {
            return Err(NOT_THE_LEVEL.into());
        }
        ["SET", ..]
            if lexed
                .words()
                .any(|word| level_words.contains(&word.as_str())) =>
        {
            return Err(NOT_THE_LEVEL.into());
        }
        _ => {}
    }
    if SCHEMA.contains(&first) {
        return Err(format!(
            "{first} changes the schema, and a script runs on every request: it may read \
             and write rows, not change the tables (make them with the database's own tools)"
        ));
    }
    if HIDDEN.contains(&first) {
        return Err(format!(
            "{first} runs SQL that counter cannot see before it runs: write the statements \
             themselves"
        ));
    }
    if BEYOND.contains(&first) {
        return Err(format!(
            "{first} reaches beyond the counter's rows (other sessions, the server's files): a \
             script may read and write rows"
        ));
    }
    if first == "COPY"
        && lexed
            .words()
            .any(|word| word == "STDIN" || word == "STDOUT")
    {
        return Err(
            "COPY ... STDIN/STDOUT switches the connection into copy mode, which a request does \
             not speak: read with SELECT, write with INSERT"
                .into(),
        );
    }
    Ok(())
}

/// Whether the statement takes a lock beyond the rows it writes: a locking read, or an
/// advisory or named lock.
fn takes_locks(words: &[String]) -> bool {
    let locking_read = words.windows(2).any(|pair| {
        matches!(
            (pair[0].as_str(), pair[1].as_str()),
            ("FOR", "UPDATE" | "SHARE" | "NO" | "KEY") | ("SHARE", "MODE")
        )
    });
    let named_lock = words
        .iter()
        .any(|word| word.starts_with("PG_ADVISORY") || word == "GET_LOCK");
    locking_read || named_lock || words.first().is_some_and(|word| word == "LOCK")
}

pub const NOT_THE_LEVEL: &str = "the isolation level is the run's (--isolation), not the script's";

/// Longest pause a `\sleep` may ask for.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// `\sleep 50 ms`, `\sleep 1` (seconds, as pgbench), `\sleep :think_ms ms`.
pub fn parse_sleep(args: &[&str]) -> Result<Pause, String> {
    let (amount, unit) = match args {
        [amount] => (*amount, "s"),
        [amount, unit] => (*amount, *unit),
        _ => return Err("\\sleep takes an amount and a unit: \\sleep 50 ms".into()),
    };
    let unit = match unit {
        "us" => Duration::from_micros(1),
        "ms" => Duration::from_millis(1),
        "s" => Duration::from_secs(1),
        other => return Err(format!("\\sleep: unknown unit {other:?} (us, ms or s)")),
    };
    if let Some(name) = amount.strip_prefix(':') {
        if !is_identifier(name) {
            return Err(format!("\\sleep: {amount:?} is not a variable"));
        }
        return Ok(Pause::Variable {
            name: name.to_string(),
            unit,
        });
    }
    let pause = amount
        .parse::<u32>()
        .ok()
        .and_then(|n| unit.checked_mul(n))
        .filter(|pause| *pause <= MAX_SLEEP)
        .ok_or_else(|| format!("\\sleep: {amount:?} is not a whole number up to 60 s"))?;
    Ok(Pause::Fixed(pause))
}
