//! Who refused a run's rejected requests, in words: the database's refusals apart from the
//! requests that never started, which say nothing about the method.

use std::collections::BTreeMap;

use crate::model::results::{RunRecord, never_started};

/// Who refused `r`'s rejected requests (see [`refusals_in_words`]).
pub fn of(r: &RunRecord) -> String {
    refusals_in_words(r.rejected, &r.errors)
}

/// Who refused `rejected` requests, in words: the database's refusals apart from the
/// requests that never started (the server shed them, no database connection was free, the
/// client could not connect), which say nothing about the method.
pub fn refusals_in_words(rejected: u64, errors: &BTreeMap<String, u64>) -> String {
    let (shed, no_connection, connect) = never_started(errors);
    let by_database = rejected.saturating_sub(shed + no_connection + connect);
    let mut parts = Vec::new();
    if by_database > 0 || shed + no_connection + connect == 0 {
        parts.push(format!("the database refused {by_database} requests"));
    }
    if shed > 0 {
        parts.push(format!(
            "the server shed {shed} before they started (more in flight than its \
             --max-in-flight allows: lower the client's concurrency or raise the limit; \
             not the method's doing)"
        ));
    }
    if no_connection > 0 {
        parts.push(format!(
            "{no_connection} found no free database connection in time and were not sent \
             (the server's --pool-size)"
        ));
    }
    if connect > 0 {
        parts.push(format!("{connect} could not connect to the server"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::refusals_in_words;

    #[test]
    fn requests_never_started_are_not_blamed_on_the_database() {
        // (rejected, errors, words present, words absent)
        type Case = (
            u64,
            &'static [(&'static str, u64)],
            &'static [&'static str],
            &'static [&'static str],
        );
        let cases: [Case; 4] = [
            (
                57,
                &[("40001", 57)],
                &["the database refused 57"],
                &["shed"],
            ),
            (
                460,
                &[("overloaded", 460)],
                &[
                    "the server shed 460",
                    "--max-in-flight",
                    "not the method's doing",
                ],
                &["database refused"],
            ),
            (
                12,
                &[("40001", 2), ("database_unavailable", 10)],
                &[
                    "the database refused 2",
                    "10 found no free database connection",
                ],
                &["shed"],
            ),
            (
                3,
                &[("connect", 3)],
                &["3 could not connect"],
                &["database refused"],
            ),
        ];
        for (rejected, errors, present, absent) in cases {
            let errors = errors.iter().map(|(k, n)| (k.to_string(), *n)).collect();
            let words = refusals_in_words(rejected, &errors);
            for part in present {
                assert!(words.contains(part), "{words:?} lacks {part:?}");
            }
            for part in absent {
                assert!(!words.contains(part), "{words:?} has {part:?}");
            }
        }
    }
}
