//! What an application's statement can do to another session, read from its first words: the
//! explorer's rule for its own statements (`Effect`) applied to SQL it did not write. A
//! statement no other session can notice goes without a choice; anything unknown is a choice
//! point (a step too many costs schedules, a step too few could hide an interleaving).

use std::borrow::Cow;

use crate::model::statement::{Effect, Fetch, Statement};

/// `sql` as the explorer's statement: its effect and how its answer reads.
pub fn statement_of(sql: &str) -> Statement {
    let (effect, fetch) = effect_of(sql);
    Statement {
        sql: Cow::Owned(sql.to_string()),
        binds: Vec::new(),
        effect,
        fetch,
    }
}

fn effect_of(sql: &str) -> (Effect, Fetch) {
    let upper = sql.trim_start().to_ascii_uppercase();
    let first = upper
        .split(|c: char| !c.is_ascii_alphabetic())
        .find(|word| !word.is_empty())
        .unwrap_or("");
    let locks = [
        " FOR UPDATE",
        " FOR NO KEY UPDATE",
        " FOR SHARE",
        " FOR KEY SHARE",
    ];
    match first {
        "BEGIN" | "START" | "SAVEPOINT" | "RELEASE" | "SET" | "SHOW" | "RESET" | "DISCARD"
        | "DEALLOCATE" => (Effect::Local, Fetch::Nothing),
        "COMMIT" | "END" | "ROLLBACK" | "ABORT" => (Effect::Releases, Fetch::Nothing),
        "SELECT" | "WITH" | "VALUES" | "TABLE" => {
            if locks.iter().any(|lock| upper.contains(lock)) || upper.contains("PG_ADVISORY") {
                (Effect::Writes, Fetch::Rows)
            } else if !upper.contains(" FROM ") && first == "SELECT" {
                // `SELECT version()`, `SELECT 1`: reads nothing another session changes.
                (Effect::Local, Fetch::Rows)
            } else {
                (Effect::Reads, Fetch::Rows)
            }
        }
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => match upper.contains(" RETURNING ") {
            true => (Effect::Writes, Fetch::Rows),
            false => (Effect::Writes, Fetch::Written),
        },
        _ => (Effect::Writes, Fetch::Nothing),
    }
}

#[cfg(test)]
mod tests {
    use super::effect_of;
    use crate::model::statement::{Effect, Fetch};

    #[test]
    fn an_applications_statements_by_what_others_can_notice() {
        let cases = [
            ("BEGIN", Effect::Local),
            ("SET TIME ZONE 'UTC'", Effect::Local),
            ("SELECT version()", Effect::Local),
            ("SELECT count FROM counter WHERE id = $1", Effect::Reads),
            (
                "select count from counter where id = $1 for update",
                Effect::Writes,
            ),
            ("SELECT pg_advisory_xact_lock($1)", Effect::Writes),
            (
                "UPDATE counter SET count = count + 1 WHERE id = $1",
                Effect::Writes,
            ),
            ("COMMIT", Effect::Releases),
            ("  rollback", Effect::Releases),
            ("VACUUM counter", Effect::Writes),
        ];
        for (sql, effect) in cases {
            assert_eq!(effect_of(sql).0, effect, "{sql}");
        }
        assert_eq!(
            effect_of("INSERT INTO counter VALUES (1, 0) RETURNING count").1,
            Fetch::Rows
        );
    }
}
