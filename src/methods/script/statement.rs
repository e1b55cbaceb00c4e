//! One command of a script, on its own: whether it opens or ends a transaction, and a
//! statement's variables turned into each engine's placeholders; and a `\sleep`'s pause.

use std::time::Duration;

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
    /// With `$1, $2, ...` for PostgreSQL.
    pub numbered: String,
    /// With `?` for MariaDB and SQLite.
    pub positional: String,
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

/// What one command of a script is: a transaction's bounds, or a statement with its
/// variables bound (`gset`: the `\\gset` prefix that ended it, if one did). The isolation level
/// is the run's: a script cannot set it.
pub fn command(text: &str, line: usize, gset: Option<String>) -> Result<Command, String> {
    let words: Vec<String> = text
        .split_whitespace()
        .take(4)
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let control = match words.as_slice() {
        ["BEGIN"] | ["BEGIN", "WORK" | "TRANSACTION"] | ["START", "TRANSACTION"] => {
            Some(Command::Begin)
        }
        ["COMMIT" | "END"] | ["COMMIT" | "END", "WORK" | "TRANSACTION"] => Some(Command::Commit),
        ["ROLLBACK" | "ABORT"] | ["ROLLBACK" | "ABORT", "WORK" | "TRANSACTION"] => {
            Some(Command::Rollback)
        }
        ["BEGIN", ..] | ["START", "TRANSACTION", ..] => {
            return Err(
                "write BEGIN alone: counter opens the transaction at the run's isolation level"
                    .into(),
            );
        }
        ["SET", "TRANSACTION", ..]
        | ["SET", "SESSION", "CHARACTERISTICS", ..]
        | ["SET", "SESSION", "TRANSACTION", ..] => return Err(NOT_THE_LEVEL.into()),
        [
            first @ ("CREATE" | "ALTER" | "DROP" | "TRUNCATE" | "GRANT" | "REVOKE" | "RENAME"
            | "COMMENT" | "REINDEX" | "CLUSTER" | "VACUUM" | "SECURITY" | "REASSIGN"),
            ..,
        ] => {
            return Err(format!(
                "{first} changes the schema, and a script runs on every request: it may read \
                 and write rows, not change the tables (make them with the database's own tools)"
            ));
        }
        _ if text.to_ascii_lowercase().contains("transaction_isolation") => {
            return Err(NOT_THE_LEVEL.into());
        }
        _ => None,
    };
    if let Some(control) = control {
        return match gset {
            Some(_) => Err("\\gset must follow a statement that returns a row".into()),
            None => Ok(control),
        };
    }
    let (numbered, positional, binds) = bind_variables(text)?;
    let first = words.first().copied();
    let query = matches!(first, Some("SELECT" | "WITH" | "VALUES" | "SHOW" | "TABLE"));
    // `WITH` may hold an UPDATE: not counted as only reading.
    let reads = matches!(first, Some("SELECT" | "VALUES" | "SHOW" | "TABLE"));
    let returning = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|word| word.eq_ignore_ascii_case("returning"));
    Ok(Command::Sql(Statement {
        line,
        numbered,
        positional,
        binds,
        returns_rows: query || returning || gset.is_some(),
        gset,
        refuse_if_zero_rows: false,
        returning,
        reads_only: reads && !returning,
        takes_locks: takes_locks(text),
    }))
}

/// Whether `text` takes a lock beyond the rows it writes: a locking read, or an advisory or
/// named lock.
fn takes_locks(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    let locking_read = words.windows(2).any(|pair| {
        matches!(
            (pair[0].as_str(), pair[1].as_str()),
            ("FOR", "UPDATE" | "SHARE" | "NO" | "KEY") | ("SHARE", "MODE")
        )
    });
    let named_lock = words
        .iter()
        .any(|word| word.starts_with("PG_ADVISORY") || word == "GET_LOCK");
    locking_read || named_lock
}

const NOT_THE_LEVEL: &str = "the isolation level is the run's (--isolation), not the script's";

/// Longest pause a `\sleep` may ask for.
const MAX_SLEEP: Duration = Duration::from_secs(60);

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

/// The statement with its `:variables` replaced by each engine's placeholders, and the
/// variables in order. Quoted text and `::` casts are left alone.
fn bind_variables(text: &str) -> Result<(String, String, Vec<String>), String> {
    let (mut numbered, mut positional, mut binds) = (String::new(), String::new(), Vec::new());
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(open), _) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, ':') if chars.peek() == Some(&':') => {
                chars.next();
                numbered.push_str("::");
                positional.push_str("::");
                continue;
            }
            (None, ':')
                if chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_') =>
            {
                let mut name = String::new();
                while let Some(&n) = chars
                    .peek()
                    .filter(|n| n.is_ascii_alphanumeric() || **n == '_')
                {
                    name.push(n);
                    chars.next();
                }
                binds.push(name);
                numbered.push_str(&format!("${}", binds.len()));
                positional.push('?');
                continue;
            }
            (None, '$' | '?') if placeholder_follows(c, chars.peek()) => {
                return Err(format!(
                    "write variables as :name; counter numbers the placeholders itself (found {c})"
                ));
            }
            _ => {}
        }
        numbered.push(c);
        positional.push(c);
    }
    Ok((numbered, positional, binds))
}

/// Whether `c` followed by `next` is a placeholder of the user's own (`$1`, or `?`).
fn placeholder_follows(c: char, next: Option<&char>) -> bool {
    match c {
        '$' => next.is_some_and(char::is_ascii_digit),
        _ => true,
    }
}

pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
