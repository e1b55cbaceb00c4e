//! `counter explain`: the transcripts say why, the spec has the isolation tester's shape, the
//! terminal scripts replayed by hand give the transcript's outcome, the swimlanes have their
//! lanes, waits and failing step.

use std::time::Duration;

use sqlx::postgres::PgConnection;
use sqlx::{ConnectOptions, Connection};

use crate::support::{TempDir, fresh_database, run_counter, stdout_of_success};

async fn explain(args: &[&str]) -> String {
    let mut all = vec!["explain"];
    all.extend_from_slice(args);
    stdout_of_success(&run_counter(all, &[]).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_update_is_shown_step_by_step_at_read_committed() {
    let _cpu = crate::support::busy().await;
    let out = explain(&["-n", "4", "--isolation", "read-committed"]).await;
    assert!(out.contains("== lost"), "{out}");
    // Both sessions read the same value, both commit, and the last line says why.
    assert!(out.matches("-> count = 0").count() >= 2, "{out}");
    assert!(
        out.contains("T1 committed, wrote 1; T2 committed, wrote 1"),
        "{out}"
    );
    assert!(out.contains("expected 2, got 1: both read 0;"), "{out}");
    assert!(out.contains("(lost update)"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_lock_at_repeatable_read_waits_then_is_refused() {
    let _cpu = crate::support::busy().await;
    let out = explain(&[
        "-n",
        "2",
        "--isolation",
        "repeatable-read",
        "--class",
        "refused",
    ])
    .await;
    assert!(out.contains("waiting for row lock"), "{out}");
    assert!(out.contains("held by T1"), "{out}");
    assert!(out.contains("completed> -> ERROR 40001"), "{out}");
    assert!(
        out.contains("T2 refused with 40001 after T1 committed"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_read_committed_from_an_absent_row_deadlocks_only_with_three_sessions() {
    if !crate::mariadb::mariadb_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    let args = [
        "explain", "--engine", "mariadb", "-n", "2", "--row", "absent", "--class", "deadlock",
    ];
    let two = run_counter(args, &[]).await;
    assert_eq!(two.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&two.stderr);
    assert!(
        stderr.contains("no schedule of this cell is deadlock"),
        "{stderr}"
    );
    assert!(stderr.contains("try --sessions 3"), "{stderr}");
    let three = explain(&[
        "--engine",
        "mariadb",
        "-n",
        "2",
        "--row",
        "absent",
        "--class",
        "deadlock",
        "--sessions",
        "3",
    ])
    .await;
    assert!(three.contains("ER_DUP_ENTRY"), "{three}");
    assert!(three.contains("ER_LOCK_DEADLOCK"), "{three}");
    assert!(three.contains("deadlock's victim"), "{three}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_has_the_isolation_testers_shape_and_the_svg_its_lanes() {
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("explain-files");
    let (spec, svg) = (dir.join("refused.spec"), dir.join("refused.svg"));
    let args = [
        "-n",
        "2",
        "--isolation",
        "repeatable-read",
        "--all",
        "--spec",
        spec.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ];
    explain(&args).await;
    let spec = std::fs::read_to_string(&spec).unwrap();
    // setup { ... } teardown { ... } session s1 ... session s2 ... permutation lines, every
    // step a permutation names declared once, no brace inside an SQL block.
    assert!(
        spec.contains("\nsetup\n{\n") && spec.contains("\nteardown\n{\n"),
        "{spec}"
    );
    assert!(
        spec.contains("\nsession s1\n") && spec.contains("\nsession s2\n"),
        "{spec}"
    );
    let steps: Vec<&str> = spec
        .lines()
        .filter_map(|l| l.strip_prefix("step "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let mut unique = steps.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), steps.len(), "step names are unique");
    let permutations: Vec<&str> = spec
        .lines()
        .filter(|l| l.starts_with("permutation "))
        .collect();
    assert_eq!(permutations.len(), 3, "one per schedule: {spec}");
    for line in &permutations {
        for step in line.split_whitespace().skip(1) {
            assert!(steps.contains(&step), "{step} is declared");
        }
    }
    for line in spec.lines().filter(|l| l.starts_with("step ")) {
        let body = line.split_once('{').unwrap().1;
        assert_eq!(body.matches('}').count(), 1, "{line}");
    }
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(
        svg.matches("class=\"lane\"").count(),
        2,
        "a lane per session"
    );
    assert!(
        !svg.contains("<script") && svg.matches("http://").count() == 1,
        "self-contained"
    );
    // The first schedule shown is the exact one; the refused ones are drawn beside it.
    let refused: Vec<String> = std::fs::read_dir(dir.join(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .filter(|text| text.contains("step failed"))
        .collect();
    assert!(!refused.is_empty(), "the failing step is marked");
    assert!(
        refused.iter().all(|svg| svg.contains("class=\"wait\"")),
        "a wait bar"
    );
}

/// One `--psql` script: the starting state, then each session's steps by number.
struct Scripts {
    start: Vec<String>,
    /// (step number, session, statement)
    steps: Vec<(usize, usize, String)>,
    setup: Vec<Option<String>>,
}

fn parse_scripts(text: &str) -> Scripts {
    // The scripts begin with the starting state; what comes before is the heading.
    let text = &text[text.find("-- First").expect("the starting state first")..];
    let mut scripts = Scripts {
        start: Vec::new(),
        steps: Vec::new(),
        setup: Vec::new(),
    };
    let (mut session, mut step): (Option<usize>, Option<usize>) = (None, None);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("-- T") {
            session = Some(rest.split(':').next().unwrap().parse::<usize>().unwrap() - 1);
            scripts.setup.push(None);
            continue;
        }
        if let Some(rest) = line.strip_prefix("-- step ") {
            step = Some(rest.split_whitespace().next().unwrap().parse().unwrap());
            continue;
        }
        if line.starts_with("--") || line.trim().is_empty() {
            continue;
        }
        let statement = line.trim_end_matches(';').to_string();
        match (session, step.take()) {
            (None, _) => scripts.start.push(statement),
            (Some(s), Some(n)) => scripts.steps.push((n, s, statement)),
            (Some(s), None) => scripts.setup[s] = Some(statement),
        }
    }
    scripts.steps.sort();
    scripts
}

/// Runs the scripts over two connections in the order of their numbers, as a reader pasting
/// them would: a statement that does not answer within a moment is waiting, and the next
/// number goes to the other window. Returns the counter after.
async fn replay(scripts: &Scripts, id: i64) -> i64 {
    let options = fresh_database().await;
    // The tables, as counter creates them.
    counter::engines::postgres::connect(&options, counter::model::Isolation::ReadCommitted, 1)
        .await
        .unwrap()
        .close()
        .await;
    let mut admin = options.connect().await.unwrap();
    for statement in &scripts.start {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let mut windows = Vec::new();
    for setup in &scripts.setup {
        let (send, mut receive) =
            tokio::sync::mpsc::unbounded_channel::<(String, tokio::sync::oneshot::Sender<()>)>();
        let mut conn: PgConnection = options.connect().await.unwrap();
        if let Some(setup) = setup {
            sqlx::raw_sql(sqlx::AssertSqlSafe(setup.clone()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        windows.push((
            send,
            tokio::spawn(async move {
                while let Some((statement, done)) = receive.recv().await {
                    // A refusal is part of the schedule: its window goes on.
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                        .execute(&mut conn)
                        .await;
                    let _ = done.send(());
                }
                let _ = conn.close().await;
            }),
        ));
    }
    let mut pending = Vec::new();
    for (_, session, statement) in &scripts.steps {
        let (done, answered) = tokio::sync::oneshot::channel();
        windows[*session].0.send((statement.clone(), done)).unwrap();
        let mut answered = answered;
        if tokio::time::timeout(Duration::from_millis(500), &mut answered)
            .await
            .is_err()
        {
            pending.push(answered);
        }
    }
    for answered in pending {
        let _ = answered.await;
    }
    for (send, task) in windows {
        drop(send);
        task.await.unwrap();
    }
    let count: i64 = sqlx::query_scalar("SELECT count FROM counter WHERE id = $1")
        .bind(id)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_scripts_pasted_in_order_reproduce_the_outcome() {
    let _cpu = crate::support::busy().await;
    // A lost update: both windows read 0 and write 1.
    let out = explain(&[
        "-n",
        "4",
        "--isolation",
        "read-committed",
        "--class",
        "lost",
        "--psql",
    ])
    .await;
    let scripts = parse_scripts(out.split("as terminal scripts").nth(1).unwrap());
    assert_eq!(scripts.setup.len(), 2);
    assert_eq!(
        replay(&scripts, 4).await,
        1,
        "the transcript's outcome: got 1"
    );
    // A refusal: the second window waits for the first one's row lock, then gets 40001.
    let out = explain(&[
        "-n",
        "2",
        "--isolation",
        "repeatable-read",
        "--class",
        "refused",
        "--psql",
    ])
    .await;
    let text = out.split("as terminal scripts").nth(1).unwrap();
    assert!(text.contains("(waits for row lock"), "{text}");
    let scripts = parse_scripts(text);
    assert_eq!(
        replay(&scripts, 2).await,
        1,
        "the refused increment is not in the count"
    );
}
