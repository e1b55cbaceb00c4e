//! Custom methods (`--method-file`): a script that runs method 4's or method 2's statements
//! gets their verdicts, run-time failures are classified like a built-in method's, and every
//! bad script is refused before anything runs, with its file and line.

use std::collections::BTreeMap;

use crate::support::{TempDir, fresh_database, run_counter, url_of};
use serde_json::Value;

/// The examples shipped in `examples/`, by path from the crate's root.
fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `counter matrix` on a fresh database of the shared cluster with `args`; each cell's
/// (level, method) -> outcome. With `--retry`, the record with the retry wins.
async fn matrix_outcomes(args: &[&str]) -> BTreeMap<(String, u64), String> {
    let dir = TempDir::new("scripts-matrix");
    let json = dir.join("results.json");
    let url = url_of(&fresh_database().await);
    let mut all = vec!["matrix", "-q", "--database-url", &url, "--json"];
    all.push(json.to_str().unwrap());
    all.extend_from_slice(args);
    let out = run_counter(&all, &[]).await;
    // Exit 1 says acknowledged increments were lost, which some of these runs must show.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = results["runs"].as_array().expect("runs").clone();
    runs.iter()
        .map(|run| {
            let key = (
                run["isolation"].as_str().unwrap().to_string(),
                run["method"].as_u64().unwrap(),
            );
            (key, run["outcome"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Each level's outcome for method `builtin` and for the script, side by side.
fn pairs(
    outcomes: &BTreeMap<(String, u64), String>,
    builtin: u64,
) -> Vec<(String, String, String)> {
    let levels: Vec<&String> = outcomes.keys().map(|(level, _)| level).collect();
    let mut rows = Vec::new();
    for level in levels {
        let of = |method| outcomes[&(level.clone(), method)].clone();
        let row = (level.clone(), of(builtin), of(12));
        if !rows.contains(&row) {
            rows.push(row);
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_of_method_4s_statements_loses_and_is_refused_as_method_4() {
    let _cpu = crate::support::racing().await;
    // The think time inside the transaction makes the race certain: ten transactions read
    // the same count while each pauses before writing.
    let outcomes = matrix_outcomes(&[
        "--method-file",
        &example("read-modify-write.sql"),
        "--methods",
        "4,custom",
        "--levels",
        "read-committed,repeatable-read,serializable",
        "--think-ms",
        "5",
    ])
    .await;
    let rows = pairs(&outcomes, 4);
    assert_eq!(rows.len(), 3, "{outcomes:?}");
    for (level, builtin, script) in rows {
        let expected = if level == "read committed" {
            "lost"
        } else {
            "rejected"
        };
        assert_eq!(builtin, expected, "method 4 at {level}");
        assert_eq!(script, expected, "the script at {level}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_of_method_2s_statements_matches_method_2() {
    let _cpu = crate::support::racing().await;
    let outcomes = matrix_outcomes(&[
        "--method-file",
        &example("django-select-for-update.sql"),
        "--methods",
        "row-lock,12",
        "--levels",
        "read-committed,repeatable-read",
        "--think-ms",
        "5",
    ])
    .await;
    let rows = pairs(&outcomes, 2);
    assert_eq!(rows.len(), 2, "{outcomes:?}");
    for (level, builtin, script) in rows {
        let expected = if level == "read committed" {
            "exact"
        } else {
            "rejected"
        };
        assert_eq!(
            (builtin.as_str(), script.as_str()),
            (expected, expected),
            "{level}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_script_is_retried_until_exact() {
    let _cpu = crate::support::racing().await;
    let base = [
        "--method-file",
        &example("optimistic-version.sql"),
        "--levels",
        "read-committed",
        "--requests",
        "40",
        "--think-ms",
        "2",
    ];
    let without = matrix_outcomes(&base).await;
    assert_eq!(
        without.values().collect::<Vec<_>>(),
        ["rejected"],
        "lost optimistic races are refusals, never losses"
    );
    let mut with_retry = base.to_vec();
    with_retry.extend_from_slice(&["--retry", "1000"]);
    let outcomes = matrix_outcomes(&with_retry).await;
    // Two records per cell with --retry, without and then with it: the map keeps the second.
    assert_eq!(
        outcomes.values().collect::<Vec<_>>(),
        ["exact"],
        "{outcomes:?}"
    );
}

/// A server of the CLI's own over `url` with `script`; what `hammer` then reports as JSON.
async fn hammer_script(script: &str) -> Value {
    let dir = TempDir::new("scripts-runtime");
    let file = dir.join("runtime.sql");
    std::fs::write(&file, script).unwrap();
    let url = url_of(&fresh_database().await);
    let port = portpicker();
    let bind = format!("127.0.0.1:{port}");
    let mut serve = crate::process::counter_command()
        .args([
            "serve",
            "--bind",
            &bind,
            "--database-url",
            &url,
            "--method-file",
        ])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&bind).is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the server did not start");
    let out = run_counter(
        [
            "hammer",
            "-d",
            &bind,
            "-n",
            "custom",
            "--requests",
            "10",
            "--format",
            "json",
            "-q",
        ],
        &[],
    )
    .await;
    let _ = serve.kill();
    let _ = serve.wait();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn portpicker() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_time_failures_are_refusals_inside_a_transaction_and_unknown_after_a_commit() {
    let _cpu = crate::support::busy().await;
    // \gset finds no row: the transaction is rolled back, nothing applied: refused (409).
    let refused = hammer_script(
        "BEGIN;\nUPDATE counter SET count = count + 1 WHERE id = :id;\n\
         SELECT count AS c FROM counter WHERE id = -1 \\gset\nCOMMIT;\n",
    )
    .await;
    assert_eq!(refused["outcome"], "rejected", "{refused}");
    assert_eq!(refused["acknowledged"], 0, "{refused}");
    assert_eq!(refused["errors"]["script_failed"], 10, "{refused}");
    assert_eq!(refused["change"], 0, "{refused}");
    // The same failure after an autocommit UPDATE: the increment is applied, and the answer
    // says the outcome is unknown, not refused.
    let unknown = hammer_script(
        "UPDATE counter SET count = count + 1 WHERE id = :id;\n\
         SELECT count AS c FROM counter WHERE id = -1 \\gset\n",
    )
    .await;
    assert_eq!(unknown["unknown"], 10, "{unknown}");
    assert_eq!(unknown["rejected"], 0, "{unknown}");
    assert_eq!(unknown["change"], 10, "{unknown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scripts_stop_the_run_with_file_line_and_exit_2() {
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("scripts-bad");
    let cases: [(&str, &str, &str); 7] = [
        ("empty.sql", "", "empty.sql: the script is empty"),
        (
            "drop.sql",
            "SELECT 1;\nDROP TABLE counter;\n",
            "drop.sql:2: DROP changes the schema",
        ),
        (
            "meta.sql",
            "SELECT 1;\n\\setrandom x 1 10\n",
            "meta.sql:2: unknown meta-command",
        ),
        (
            "unset.sql",
            "BEGIN;\nSELECT count AS c FROM counter WHERE id = :id \\gset\n\
             UPDATE counter SET count = :n + 1 WHERE id = :id;\nCOMMIT;\n",
            "unset.sql:3: variable :n is used before it is set",
        ),
        (
            "rejected.sql",
            "SELECT 1;\nUPDATE counters SET count = 1 WHERE id = :id;\n",
            "rejected.sql:2: the database refuses it: relation \"counters\" does not exist",
        ),
        (
            "written.sql",
            "-- written: c\nUPDATE counter SET count = count + 1 WHERE id = :id;\n",
            "written.sql:1: `-- written: c` names a variable no \\gset sets",
        ),
        (
            "open.sql",
            "BEGIN;\nUPDATE counter SET count = 1;\n",
            "open.sql:1: the transaction",
        ),
    ];
    // A counter row that must survive every refused run.
    let options = fresh_database().await;
    let url = url_of(&options);
    let db =
        counter::engines::postgres::connect(&options, counter::model::Isolation::ReadCommitted, 1)
            .await
            .unwrap();
    sqlx::query("INSERT INTO counter (id, count) VALUES (12, 41)")
        .execute(&db.pool)
        .await
        .unwrap();
    for (name, text, words) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap();
        let runs = [
            vec![
                "matrix",
                "-q",
                "--database-url",
                &url,
                "--method-file",
                path,
            ],
            vec![
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--database-url",
                &url,
                "--method-file",
                path,
            ],
        ];
        for args in runs {
            let out = run_counter(&args, &[]).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            let last = stderr.trim_end().lines().last().unwrap_or("");
            assert!(
                last.starts_with("error: ") && last.contains(words),
                "{args:?}: {stderr}"
            );
            assert!(
                last.contains(&dir.join(name).display().to_string()),
                "{stderr}"
            );
        }
    }
    let left: i64 = sqlx::query_scalar("SELECT count FROM counter WHERE id = 12")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 41, "no request ran");
    let missing = run_counter(&["matrix", "--methods", "custom"], &[]).await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--method-file"));
}

/// A server over a fresh database of the shared cluster whose method 12 is `text`.
async fn serve_script(text: &str, pool_size: u32) -> crate::support::TestServer {
    serve_script_with(text, pool_size, None).await
}

/// The same, with a `--statement-timeout` of its own (None: the default).
async fn serve_script_with(
    text: &str,
    pool_size: u32,
    statement_timeout: Option<std::time::Duration>,
) -> crate::support::TestServer {
    let dir = TempDir::new("scripts-served");
    let path = dir.join("script.sql");
    std::fs::write(&path, text).unwrap();
    let script = std::sync::Arc::new(counter::methods::script::Script::load(&path).unwrap());
    let mut open =
        counter::engines::OpenOptions::new(counter::model::Isolation::ReadCommitted, pool_size);
    open.script = Some(script);
    if statement_timeout.is_some() {
        open.statement_timeout = statement_timeout;
    }
    crate::support::start_server_with(&fresh_database().await, open, |backend| {
        counter::server::AppState::with_backend(backend, 0)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_script_leaves_on_its_connection_reaches_no_other_request() {
    let _cpu = crate::support::busy().await;
    // A setting, a temporary table's absence of a schema, a session-level advisory lock.
    let server = serve_script(
        "SET search_path = nowhere;\nSELECT pg_advisory_lock(3);\n\
         UPDATE public.counter SET count = count + 1 WHERE id = :id;\n",
        2,
    )
    .await;
    for _ in 0..5 {
        let (status, body) = server.increment(12).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    }
    for k in 1..=10 {
        let (status, body) = server.increment(3).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        assert_eq!(body["count"], k, "{body}");
        let (status, body) = server.increment(6).await;
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "method 6 takes advisory lock 6: {body}"
        );
    }
    let locks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            .fetch_one(&server.db.pool)
            .await
            .unwrap();
    assert_eq!(
        locks, 0,
        "the script's session lock went with its connection"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_the_database_refuses_mid_way_is_a_409_with_its_sqlstate() {
    let _cpu = crate::support::busy().await;
    let server = serve_script(
        "BEGIN;\nUPDATE counter SET count = count + 1 WHERE id = :id;\nSELECT 1/0;\nCOMMIT;\n",
        2,
    )
    .await;
    let (status, body) = server.increment(12).await;
    assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "script_failed", "{body}");
    assert_eq!(body["sqlstate"], "22012", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("line 3") && message.contains("division by zero"),
        "{body}"
    );
    assert_eq!(
        server.count(12).await,
        Some(0),
        "rolled back: nothing applied"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_503_when_the_counter_tables_are_gone() {
    let _cpu = crate::support::busy().await;
    let server = crate::support::start_server(counter::model::Isolation::ReadCommitted, 2).await;
    let (status, body) = server.call(reqwest::Method::GET, "/health").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    sqlx::query("DROP TABLE counter_ledger")
        .execute(&server.db.pool)
        .await
        .unwrap();
    let (status, body) = server.call(reqwest::Method::GET, "/health").await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "tables_missing", "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_increment_that_found_no_connection_is_not_applied_and_says_so() {
    let _cpu = crate::support::busy().await;
    // One connection for scripts, held 7 s by a sleeping script: longer than the 5 s a
    // request waits. (Scripts have connections of their own: the second request is a script
    // too.)
    let server = serve_script("SELECT pg_sleep(7);\n", 1).await;
    let client = server.client.clone();
    let sleeper = tokio::spawn(
        client
            .post(server.url("/api/v1/endpoint/counter/12/"))
            .send(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (status, body) = server.increment(12).await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "database_unavailable", "{body}");
    assert_eq!(body["applied"], false, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("not applied"),
        "{body}"
    );
    assert_eq!(server.count(12).await, Some(0), "nothing was sent");
    let slept = sleeper.await.unwrap().unwrap();
    assert_eq!(slept.status(), reqwest::StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_timeout_is_cancelled_and_rolled_back() {
    let _cpu = crate::support::busy().await;
    let server = serve_script_with(
        "BEGIN;\nUPDATE counter SET count = count + 1 WHERE id = :id;\nSELECT pg_sleep(20);\nCOMMIT;\n",
        2,
        Some(std::time::Duration::from_secs(1)),
    )
    .await;
    let started = std::time::Instant::now();
    let (status, body) = server.increment(12).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "statement_timeout", "{body}");
    assert_eq!(body["sqlstate"], "57014", "{body}");
    assert_eq!(server.count(12).await, Some(0), "rolled back");
    let sleeping: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(20)%'",
    )
    .fetch_one(&server.db.pool)
    .await
    .unwrap();
    assert_eq!(sleeping, 0, "nothing runs on after the answer");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_cell_without_a_verdict_makes_the_exit_code_1() {
    let _cpu = crate::support::busy().await;
    // Every request's connection dies under it: 503s of unknown fate, none applied: "failed".
    let dir = TempDir::new("scripts-no-verdict");
    let path = dir.join("terminate.sql");
    std::fs::write(&path, "SELECT pg_terminate_backend(pg_backend_pid());\n").unwrap();
    let url = url_of(&fresh_database().await);
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
            "--requests",
            "5",
            "--concurrency",
            "5",
        ],
        &[],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("failed"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("NO VERDICT: read committed x method 12"),
        "{stderr}"
    );
}
