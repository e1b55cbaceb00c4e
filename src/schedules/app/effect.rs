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

/// Whether `sql`, sent in autocommit, can run as `BEGIN`, itself, `COMMIT` with the same
/// effect: a write or a locking read (not `VACUUM`, `CREATE INDEX CONCURRENTLY`, `CALL` with
/// its own transaction control, or anything else unknown, which may refuse a transaction
/// block or end one).
pub fn splits_in_autocommit(sql: &str) -> bool {
    let first = first_word(&sql.trim_start().to_ascii_uppercase());
    match first.as_str() {
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => true,
        "SELECT" | "WITH" => effect_of(sql).0 == Effect::Writes,
        _ => false,
    }
}

fn first_word(upper: &str) -> String {
    upper
        .split(|c: char| !c.is_ascii_alphabetic())
        .find(|word| !word.is_empty())
        .unwrap_or("")
        .to_string()
}

fn effect_of(sql: &str) -> (Effect, Fetch) {
    let upper = sql.trim_start().to_ascii_uppercase();
    let first = first_word(&upper);
    // A `WITH` whose parts write (`WITH moved AS (UPDATE ... RETURNING ...) SELECT ...`).
    let writes_within = ["UPDATE ", "INSERT ", "DELETE ", "MERGE "]
        .iter()
        .any(|verb| upper.contains(&format!("({verb}")) || upper.contains(&format!("( {verb}")));
    let locks = [
        " FOR UPDATE",
        " FOR NO KEY UPDATE",
        " FOR SHARE",
        " FOR KEY SHARE",
    ];
    match first.as_str() {
        "BEGIN" | "START" | "SAVEPOINT" | "RELEASE" | "SET" | "SHOW" | "RESET" | "DISCARD"
        | "DEALLOCATE" => (Effect::Local, Fetch::Nothing),
        "COMMIT" | "END" | "ROLLBACK" | "ABORT" => (Effect::Releases, Fetch::Nothing),
        "SELECT" | "WITH" | "VALUES" | "TABLE" => {
            if locks.iter().any(|lock| upper.contains(lock))
                || upper.contains("PG_ADVISORY")
                || (first == "WITH" && writes_within)
            {
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
    use super::{effect_of, splits_in_autocommit};
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
        assert_eq!(
            effect_of("WITH moved AS (UPDATE counter SET count = count + 1 RETURNING count) SELECT * FROM moved").0,
            Effect::Writes
        );
    }

    #[test]
    fn writes_and_locking_reads_split_in_autocommit_and_nothing_unknown() {
        for sql in [
            "UPDATE counter SET count = count + 1 WHERE id = $1",
            " insert into counter values (1, 0)",
            "SELECT count FROM counter WHERE id = 1 FOR UPDATE",
        ] {
            assert!(splits_in_autocommit(sql), "{sql}");
        }
        for sql in [
            "SELECT count FROM counter WHERE id = 1",
            "VACUUM counter",
            "CALL bump(1)",
            "CREATE INDEX CONCURRENTLY i ON counter (count)",
            "BEGIN",
        ] {
            assert!(!splits_in_autocommit(sql), "{sql}");
        }
    }
}
