//! Whether a replay sent what the same choices sent before. The explorer replays a schedule's
//! first choices to reach each alternative; what ran before an alternative's choice point must
//! be what ran the first time, statement for statement, or the tree is not the application's:
//! an application whose requests send other statements from one run to the next (a cache, a
//! clock, a random retry) cannot be explored by replay. Values may differ (a count written,
//! a time), so statements are compared by their shape: numbers and quoted strings stand as `?`.

use super::ran::Ran;
use crate::model::statement::Effect;

/// The shapes of `ran`'s first `steps` steps that another session could notice
/// (`T1: UPDATE counter SET count = ? WHERE id = ?`). Statements no other session can notice
/// go without a choice and are left out: a pooled connection's set-up (`SHOW`, `SET`) is
/// sent the first time the connection is used and not on a replay, and changes nothing of
/// the tree. A SQLite step sent again after BUSY counts once.
pub(super) fn shapes(ran: &Ran, steps: usize) -> Vec<String> {
    ran.steps
        .iter()
        .take(steps)
        .filter(|step| !step.would_block && step.statement.effect != Effect::Local)
        .map(|step| format!("T{}: {}", step.instance + 1, shape(&step.statement.sql)))
        .collect()
}

/// What differs between the steps a replay was expected to repeat and what it ran, in words.
pub(super) fn differs(expected: &[String], ran: &Ran) -> Option<String> {
    let now = shapes(ran, ran.steps.len());
    let (at, before) = expected
        .iter()
        .enumerate()
        .find(|(i, before)| now.get(*i) != Some(*before))?;
    let now = now
        .get(at)
        .map_or("nothing".to_string(), |now| format!("`{now}`"));
    Some(format!(
        "a replay of the same choices sent another statement at step {}: `{before}` the first \
         time, {now} this time (the schedule is not classified)",
        at + 1
    ))
}

/// `sql` with its numbers and quoted strings as `?`, its whitespace collapsed.
fn shape(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut previous = ' ';
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                // A string, '' inside it included.
                while let Some(d) = chars.next() {
                    if d == '\'' && chars.peek() != Some(&'\'') {
                        break;
                    }
                    if d == '\'' {
                        chars.next();
                    }
                }
                out.push('?');
            }
            // A placeholder stands for a value too: a step held at its Parse shows `$1`, the
            // same step held at its Bind shows the value.
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                out.push('?');
            }
            c if c.is_ascii_digit() && !(previous.is_alphanumeric() || previous == '_') => {
                while chars
                    .peek()
                    .is_some_and(|d| d.is_ascii_digit() || *d == '.')
                {
                    chars.next();
                }
                out.push('?');
            }
            c if c.is_whitespace() => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
        previous = c;
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn values_do_not_change_a_statements_shape_and_names_do() {
        assert_eq!(
            shape("UPDATE \"c\" SET \"count\" = 12 WHERE id = 1"),
            shape("UPDATE \"c\"  SET \"count\" = 3 WHERE id = 1")
        );
        assert_eq!(shape("SELECT 'it''s', $1, t2.x"), "SELECT ?, ?, t2.x");
        assert_eq!(shape("WHERE id = $1"), shape("WHERE id = 2"));
        assert_ne!(shape("SELECT a FROM t"), shape("SELECT b FROM t"));
    }
}
