//! Golden transcripts, in the manner of PostgreSQL's isolation tests: the `counter explain`
//! output of a few cells is committed under `tests/expected/explain/` and compared line by
//! line. A change to the explorer, the classification or the transcript's words shows up here
//! as a diff to read, not as a test that still passes.
//!
//! The output holds no timing; the one line that names the server's version is compared with
//! the version left out. `COUNTER_BLESS=1` rewrites the expected files from this machine's
//! output (then read the diff before committing it).

use std::path::{Path, PathBuf};

use crate::support::{run_counter, stdout_of_success};

/// (engine, method, level): methods 2 and 4 at read committed and repeatable read on
/// PostgreSQL; on SQLite at serializable, the only level it runs (its read committed and
/// repeatable read are n/a), with method 1 in place of method 2 (SQLite has no row locks:
/// method 2 is n/a there; its table lock is `BEGIN IMMEDIATE`).
const CELLS: &[(&str, &str, &str)] = &[
    ("postgres", "2", "read-committed"),
    ("postgres", "2", "repeatable-read"),
    ("postgres", "4", "read-committed"),
    ("postgres", "4", "repeatable-read"),
    ("sqlite", "1", "serializable"),
    ("sqlite", "4", "serializable"),
];

fn expected_path(engine: &str, method: &str, level: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected/explain")
        .join(format!("{engine}-method-{method}-{level}.out"))
}

/// `text` with the server's version left out of its first line ("... on postgresql 15.18
/// (Debian ...): 3 schedules" -> "... on postgresql <version>: 3 schedules").
fn without_version(text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if let Some(first) = lines.first_mut()
        && let Some(on) = first.find(", on ")
        && let Some(colon) = first[on..].find(": ").map(|at| on + at)
    {
        let engine_starts = on + ", on ".len();
        let engine: String = first[engine_starts..colon]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        *first = format!(
            "{}{engine} <version>{}",
            &first[..engine_starts],
            &first[colon..]
        );
    }
    lines.join("\n") + "\n"
}

/// The lines where `actual` and `expected` differ, numbered, at most 20.
fn differences(expected: &str, actual: &str) -> Vec<String> {
    let (expected, actual): (Vec<&str>, Vec<&str>) =
        (expected.lines().collect(), actual.lines().collect());
    let mut diff = Vec::new();
    for line in 0..expected.len().max(actual.len()) {
        let (want, got) = (expected.get(line), actual.get(line));
        if want != got {
            diff.push(format!(
                "line {}:\n  expected: {}\n  actual:   {}",
                line + 1,
                want.unwrap_or(&"(none)"),
                got.unwrap_or(&"(none)")
            ));
        }
    }
    diff.truncate(20);
    diff
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_transcripts_match_the_committed_ones() {
    let _cpu = crate::support::busy().await;
    let bless = std::env::var_os("COUNTER_BLESS").is_some();
    let mut failures = Vec::new();
    for &(engine, method, level) in CELLS {
        let args = [
            "explain",
            "--engine",
            engine,
            "-n",
            method,
            "--isolation",
            level,
        ];
        let actual = without_version(&stdout_of_success(&run_counter(args, &[]).await));
        let path = expected_path(engine, method, level);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err} (COUNTER_BLESS=1 writes it)", path.display()));
        let diff = differences(&expected, &actual);
        if !diff.is_empty() {
            failures.push(format!(
                "{engine} method {method} at {level} ({}):\n{}",
                path.display(),
                diff.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_version_is_left_out_and_nothing_else() {
    let first = "method 2 (row lock) at read committed, row exists, on postgresql 15.18 (Debian \
                 15.18-0+deb12u1): 1 schedules of 2 sessions, + exact (exact 1)\n\nT1 ...\n";
    assert_eq!(
        without_version(first),
        "method 2 (row lock) at read committed, row exists, on postgresql <version>: 1 \
         schedules of 2 sessions, + exact (exact 1)\n\nT1 ...\n"
    );
    let changed = differences("a\nb\nc\n", "a\nB\nc\nd\n");
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(changed[0].starts_with("line 2:"), "{changed:?}");
}
