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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_503_within_seconds_while_a_script_holds_the_table() {
    let _cpu = crate::support::busy().await;
    let text = "BEGIN;\nLOCK TABLE counter IN ACCESS EXCLUSIVE MODE;\n\\sleep 6 s\nCOMMIT;\n";
    let server = serve_confined(text, Isolation::ReadCommitted, None).await;
    let holder = tokio::spawn(
        server
            .client
            .post(server.url("/api/v1/endpoint/counter/12/"))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let started = Instant::now();
    let (status, body) = server.call(reqwest::Method::GET, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "database_unavailable", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let held = holder.await.unwrap().unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    let (status, body) = server.call(reqwest::Method::GET, "/health").await;
    assert_eq!(status, StatusCode::OK, "once the lock is gone: {body}");
    server.stop().await;
}

/// `counter matrix` on a throwaway server of `engine` with `text` as method 12 alone, at
/// `level`; the cell's outcome and the run's stderr.
async fn script_cell(engine: &str, level: &str, text: &str) -> (String, String) {
    let dir = TempDir::new("confined-engine");
    let (path, json) = (dir.join("script.sql"), dir.join("out.json"));
    std::fs::write(&path, text).unwrap();
    let out = run_counter(
        &[
            "matrix",
            "-q",
            "--engine",
            engine,
            "--method-file",
            path.to_str().unwrap(),
            "--levels",
            level,
            "--requests",
            "5",
            "--concurrency",
            "5",
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let results: serde_json::Value = match std::fs::read_to_string(&json) {
        Ok(text) => serde_json::from_str(&text).unwrap(),
        Err(_) => return (String::new(), stderr),
    };
    let outcome = results["runs"][0]["outcome"]
        .as_str()
        .unwrap_or("")
        .to_string();
    (outcome, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_a_transaction_the_script_opened_itself_is_refused_not_lost() {
    if !crate::mariadb::mariadb_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    // With autocommit off the UPDATE opens a transaction nobody commits: every request was
    // acknowledged and every increment vanished with the connection ("lost").
    let text = "SET autocommit = 0;\nUPDATE counter SET count = count + 1 WHERE id = :id;\n";
    let (outcome, stderr) = script_cell("mariadb", "repeatable-read", text).await;
    assert_eq!(outcome, "rejected", "{stderr}");
    // The account scripts run as may not reach beyond the counter's tables.
    let (outcome, stderr) = script_cell(
        "mariadb",
        "repeatable-read",
        "SELECT COUNT(*) FROM mysql.user;\n",
    )
    .await;
    assert!(
        outcome.is_empty() || outcome == "rejected",
        "{outcome}: {stderr}"
    );
    assert!(stderr.contains("denied"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_scripts_are_confined_by_an_authorizer_and_checked_by_the_autocommit_flag() {
    let _cpu = crate::support::busy().await;
    // A savepoint outside a transaction opens one: the database says so after the statement.
    let text = "SAVEPOINT a;\nUPDATE counter SET count = count + 1 WHERE id = :id;\n";
    let (outcome, stderr) = script_cell("sqlite", "serializable", text).await;
    assert_eq!(outcome, "rejected", "{stderr}");
    for text in [
        "PRAGMA journal_mode = DELETE;\n",
        "ATTACH DATABASE '/tmp/counter-elsewhere.sqlite3' AS elsewhere;\n",
        "SELECT name FROM sqlite_master;\n",
    ] {
        let (outcome, stderr) = script_cell("sqlite", "serializable", text).await;
        assert!(outcome.is_empty(), "{text}: {outcome}");
        // SQLite's words: "not authorized", or "access to ... is prohibited" for a read.
        let refused = stderr.contains("not authorized") || stderr.contains("is prohibited");
        assert!(refused, "{text}: {stderr}");
    }
}

/// `counter serve` with `args`, until it says where it listens: its stdout and stderr lines.
async fn serve_start_lines(args: Vec<String>) -> (Vec<String>, String) {
    let mut child = crate::process::counter_command()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines =
        tokio::task::spawn_blocking(move || crate::process::lines_until(stdout, "listening:"))
            .await
            .unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (lines, String::from_utf8_lossy(&out.stderr).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_says_who_scripts_run_as_and_warns_of_a_superuser() {
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("confined-serve");
    let path = dir.join("script.sql");
    std::fs::write(
        &path,
        "UPDATE counter SET count = count + 1 WHERE id = :id;\n",
    )
    .unwrap();
    let options = fresh_database().await;
    let url = url_of(&options);
    let script = path.to_str().unwrap().to_string();
    let args = |extra: &[&str]| {
        let mut args = vec!["--database-url".to_string(), url.clone()];
        args.extend(["--method-file".to_string(), script.clone()]);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        args
    };
    let (stdout, stderr) = serve_start_lines(args(&[])).await;
    assert!(
        stdout
            .iter()
            .any(|line| line == "scripts run as: role postgres"),
        "{stdout:?}"
    );
    assert!(stderr.contains("a superuser"), "{stderr}");
    // A role of the user's own, named by --script-url.
    let database = options.get_database().unwrap();
    let role = format!("script_{database}");
    let login = counter::engines::postgres::script_role::create_named(&options, database, &role)
        .await
        .unwrap();
    let script_url = {
        use sqlx::ConnectOptions;
        login.options.to_url_lossy().to_string()
    };
    let (stdout, stderr) = serve_start_lines(args(&["--script-url", &script_url])).await;
    let expected = format!("scripts run as: role {role}");
    assert!(stdout.contains(&expected), "{stdout:?}\n{stderr}");
    assert!(!stderr.contains("a superuser"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_and_the_server_give_a_script_the_same_verdict() {
    let _cpu = crate::support::racing().await;
    let dir = TempDir::new("confined-agree");
    let path = dir.join("level.sql");
    // A level change the text cannot see, then a one-statement increment.
    std::fs::write(
        &path,
        "SELECT set_config('default_transaction_' || 'isolation', 'read committed', false);\n\
         UPDATE counter SET count = count + 1 WHERE id = :id;\n",
    )
    .unwrap();
    let out = run_counter(
        &[
            "matrix",
            "-q",
            "--schedules",
            "--method-file",
            path.to_str().unwrap(),
            "--levels",
            "serializable",
            "--requests",
            "10",
            "--concurrency",
            "10",
        ],
        &[],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The race (the server's answers) and every schedule (the explorer's): refused, both.
    assert!(stdout.contains("- / - refused"), "{stdout}");
    assert!(stdout.contains("script_failed=10"), "{stdout}");
}
