//! A user's script cannot fool the verdict: what it may do is decided by the database (the
//! role scripts run as) and checked against what the database reports (the transaction's
//! state, the level), never by the script's text alone. Each script here once got a wrong
//! answer: a 409 "nothing was applied" for an increment that stayed, a 200 that vanished, a
//! serializable run that lost updates, a dropped table, an unbounded request.

use std::time::{Duration, Instant};

use counter::engines::OpenOptions;
use counter::methods::script::Script;
use counter::model::Isolation;
use counter::server::AppState;
use reqwest::StatusCode;

use crate::support::{TempDir, TestServer, confined_location, fresh_database, run_counter, url_of};

/// A server at `level` whose method 12 is `text`, its scripts confined to a role of their own,
/// with a `--statement-timeout` of `timeout` (None: the default).
async fn serve_confined(text: &str, level: Isolation, timeout: Option<Duration>) -> TestServer {
    let script = Script::parse("hostile.sql", text).expect("the script parses");
    let mut open = OpenOptions::new(level, 2);
    open.script = Some(std::sync::Arc::new(script));
    if timeout.is_some() {
        open.statement_timeout = timeout;
    }
    let options = fresh_database().await;
    let location = confined_location(&options).await;
    crate::support::start_server_at(&location, &options, open, |backend| {
        AppState::with_backend(backend, 0)
    })
    .await
}

/// Sends `n` increments of method 12 one after the other; (status, body) of each.
async fn increments(server: &TestServer, n: usize) -> Vec<(StatusCode, serde_json::Value)> {
    let mut answers = Vec::new();
    for _ in 0..n {
        answers.push(server.increment(12).await);
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_changes_the_level_is_refused_before_it_commits() {
    let _cpu = crate::support::busy().await;
    // The read-modify-write example behind a level change the text cannot see (the name is
    // built at run time): a serializable run once reported lost updates.
    let rmw = "BEGIN;\nSELECT count AS c, count + 1 AS next FROM counter WHERE id = :id \\gset\n\
               UPDATE counter SET count = :next WHERE id = :id;\nCOMMIT;\n";
    let cases = [
        format!(
            "SELECT set_config('default_transaction_' || 'isolation', 'read committed', false);\n{rmw}"
        ),
        // Quoted names: the words the text check looks for are not there.
        "BEGIN;\nSET \"transaction_isolation\" = 'read committed';\n\
         UPDATE counter SET count = count + 1 WHERE id = :id;\nCOMMIT;\n"
            .to_string(),
        format!("SET U&\"default_transaction_isolatio\\006E\" = 'read committed';\n{rmw}"),
    ];
    for text in cases {
        let server = serve_confined(&text, Isolation::Serializable, None).await;
        for (status, body) in increments(&server, 3).await {
            assert_eq!(status, StatusCode::CONFLICT, "{text}\n{body}");
            assert_eq!(body["error"], "script_failed", "{body}");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains("runs at read committed, not at the run's serializable")
                    && message.contains("nothing was applied"),
                "{body}"
            );
        }
        assert_eq!(server.count(12).await, Some(0), "{text}: nothing committed");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_role_may_not_do_the_database_refuses_and_nothing_else_is_disturbed() {
    let _cpu = crate::support::busy().await;
    // Statements the text check lets through; the role scripts run as may not run them.
    let cases = [
        ("COPY counter TO PROGRAM 'id';\n", "42501"),
        ("SELECT pg_terminate_backend(pg_backend_pid());\n", "42501"),
        ("SELECT count(*) FROM pg_authid;\n", "42501"),
        ("SELECT lo_import('/etc/passwd');\n", "42501"),
    ];
    for (text, sqlstate) in cases {
        let server = serve_confined(text, Isolation::ReadCommitted, None).await;
        let (status, body) = server.increment(12).await;
        assert_eq!(status, StatusCode::CONFLICT, "{text}: {body}");
        assert_eq!(body["error"], "script_failed", "{text}: {body}");
        assert_eq!(body["sqlstate"], sqlstate, "{text}: {body}");
        // The built-in methods and the tables are untouched.
        let (status, body) = server.increment(3).await;
        assert_eq!(status, StatusCode::OK, "{text}: method 3 after it: {body}");
        let (status, body) = server.call(reqwest::Method::GET, "/health").await;
        assert_eq!(status, StatusCode::OK, "{text}: {body}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_lifts_its_timeout_is_cancelled_at_the_deadline_and_lets_go_of_its_lock() {
    let _cpu = crate::support::busy().await;
    let timeout = Duration::from_secs(1);
    let cases = [
        // The database's own timeout lifted, then a statement that runs for minutes.
        "SET statement_timeout = 0;\nBEGIN;\nUPDATE counter SET count = count + 1 WHERE id = :id;\n\
         SELECT pg_sleep(100);\nCOMMIT;\n",
        // A lock held through a sleep the database never sees.
        "BEGIN;\nLOCK TABLE counter IN ACCESS EXCLUSIVE MODE;\nUPDATE counter SET count = count + 1 WHERE id = :id;\n\
         \\sleep 50 s\nCOMMIT;\n",
    ];
    for text in cases {
        let server = serve_confined(text, Isolation::ReadCommitted, Some(timeout)).await;
        let started = Instant::now();
        let (status, body) = server.increment(12).await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::CONFLICT, "{text}: {body}");
        assert_eq!(body["error"], "deadline_exceeded", "{text}: {body}");
        assert!(
            took < Duration::from_secs(8),
            "{text}: answered after {took:?}"
        );
        assert_eq!(server.count(12).await, Some(0), "{text}: rolled back");
        // Nothing of it runs on or holds a lock: another method goes through at once.
        let started = Instant::now();
        let (status, body) = server.increment(3).await;
        assert_eq!(status, StatusCode::OK, "{text}: {body}");
        assert!(started.elapsed() < Duration::from_secs(3), "{text}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_that_hid_transaction_commands_or_schema_changes_are_refused_with_their_line() {
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("confined-check");
    let url = url_of(&fresh_database().await);
    // Each once passed the check: a hidden commit made 50 acknowledged-0 increments "extra",
    // a hidden BEGIN made 50 acknowledged increments vanish, the DROP and the DO block
    // broke every other method.
    let cases = [
        (
            "BEGIN;\nUPDATE counter SET count = count + 1 WHERE id = :id;\nCOMMIT AND CHAIN;\nSELECT 1/0;\nCOMMIT;\n",
            ":3: a chained transaction",
        ),
        (
            "BEGIN;\nUPDATE counter SET count = count + 1 WHERE id = :id;\n/**/ COMMIT;\nSELECT 1/0;\nCOMMIT;\n",
            ":5: COMMIT or ROLLBACK without BEGIN",
        ),
        (
            "/**/ BEGIN;\nUPDATE counter SET count = count + 1 WHERE id = :id RETURNING count;\n",
            ":1: the transaction begun here is never committed",
        ),
        (
            "/* x */ DROP TABLE counter;\n",
            ":1: DROP changes the schema",
        ),
        (
            "DO $$ BEGIN EXECUTE 'DROP TABLE counter'; END $$;\n",
            ":1: DO runs SQL that counter cannot see",
        ),
        ("COPY counter TO STDOUT;\n", ":1: COPY ... STDIN/STDOUT"),
    ];
    for (text, expected) in cases {
        let path = dir.join("script.sql");
        std::fs::write(&path, text).unwrap();
        let out = run_counter(
            &[
                "matrix",
                "-q",
                "--database-url",
                &url,
                "--method-file",
                path.to_str().unwrap(),
                "--levels",
                "read-committed",
            ],
            &[],
        )
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(expected), "{text}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semicolons_inside_quotes_and_comments_are_the_databases_to_read() {
    let _cpu = crate::support::busy().await;
    // A hand-written splitter cut these at their inner semicolons and blamed the database.
    let text = "UPDATE counter SET count = count + length($$;$$) + length(E'it\\'s;') - 5 /* ; */ \
                WHERE id = :id;\n";
    let server = serve_confined(text, Isolation::ReadCommitted, None).await;
    let (status, body) = server.increment(12).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.count(12).await, Some(1));
    server.stop().await;
}
