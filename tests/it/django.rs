//! A real Django application, unmodified, explored through counter's proxy: the fixture in
//! `tests/fixtures/django_counter` (Django and its PostgreSQL drivers from PyPI, installed by
//! `.ci/run`) with three endpoints, an `F('count') + 1` update, a `select_for_update()` read
//! then save, and a plain read then save. Each gets, at each level, the verdict the semantics
//! predict, with Django's own statements in the transcripts; once with psycopg2 (the simple
//! query protocol, values written in by the client), once with psycopg 3 and server-side
//! binding (the extended protocol). Without Django the set-up fails and so does the test.

use crate::support::{TempDir, fresh_database, run_counter, url_of};

/// The fixture's directory.
fn fixture() -> String {
    format!(
        "{}/tests/fixtures/django_counter",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `counter app`'s arguments for `request` (`GET http://127.0.0.1:PORT/locked/1/`) on the
/// fixture started on `port` with `env` (`COUNTER_DJANGO_DRIVER=psycopg3`, or nothing), the
/// proxy on `port + 1`, the row there with count 0 before each schedule.
fn app_args(url: &str, request: &str, port: u16, env: &str) -> Vec<String> {
    let python = format!("{env} PYTHONDONTWRITEBYTECODE=1 exec python3");
    let dir = fixture();
    [
        "app",
        "--request",
        request,
        "--value",
        "SELECT COALESCE((SELECT count FROM counter_counter WHERE id = 1), 0)::bigint",
        "--before",
        "DELETE FROM counter_counter WHERE id = 1; \
         INSERT INTO counter_counter (id, count) VALUES (1, 0)",
        "--setup",
        &format!("cd {dir} && {python} manage.py migrate --noinput"),
        "--command",
        &format!("cd {dir} && {python} manage.py runserver --noreload 127.0.0.1:{port}"),
        "--ready",
        "/health/",
        "--database-url",
        url,
        "--listen",
        &format!("127.0.0.1:{}", port + 1),
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect()
}

/// `counter app --isolation all` on `endpoint` of the fixture run with `driver`: what it
/// printed, and its exit code.
async fn explore(
    url: &str,
    driver: &str,
    endpoint: &str,
    port: u16,
    extra: &[String],
) -> (String, i32) {
    let request = format!("GET http://127.0.0.1:{port}/{endpoint}/1/");
    let mut args = app_args(
        url,
        &request,
        port,
        &format!("COUNTER_DJANGO_DRIVER={driver}"),
    );
    args.extend(["--isolation".to_string(), "all".to_string()]);
    args.extend(extra.iter().cloned());
    let out = run_counter(args, &[]).await;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (printed, out.status.code().unwrap_or(-1))
}

/// The summary line of `level` (`read committed     - refused (...)`).
fn verdict_at<'a>(printed: &'a str, level: &str) -> &'a str {
    printed
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with(level))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_django_application_gets_the_verdicts_its_code_predicts_at_every_level() {
    let _cpu = crate::support::busy().await;
    let url = url_of(&fresh_database().await);
    // What the semantics predict. `F()`: the row lock orders the updates at read committed;
    // at repeatable read and serializable the second is refused (40001 -> HTTP 500).
    // `select_for_update()`: the same. Read then save, each in autocommit: the read is a
    // transaction of its own, so no level sees the second write overwrite the first.
    let expected = [
        ("f", ["+ exact", "+ exact", "- refused", "- refused"]),
        ("locked", ["+ exact", "+ exact", "- refused", "- refused"]),
        ("plain", ["- lost", "- lost", "- lost", "- lost"]),
    ];
    let levels = [
        "read uncommitted",
        "read committed",
        "repeatable read",
        "serializable",
    ];
    let mut port = 18_700;
    let mut wrong = Vec::new();
    let exports = TempDir::new("django-exports");
    let exported = |name: &str| exports.join(name).display().to_string();
    for driver in ["psycopg2", "psycopg3"] {
        for (endpoint, verdicts) in expected {
            // The exports, once: the isolation-tester spec (one per level), CSV and JSON.
            let extra = match (driver, endpoint) {
                ("psycopg3", "locked") => vec![
                    "--spec".to_string(),
                    exported("locked.spec"),
                    "--csv".to_string(),
                    exported("locked.csv"),
                    "--json".to_string(),
                    exported("locked.json"),
                ],
                // The race beside the schedules, once: read then save loses at every level.
                ("psycopg2", "plain") => vec![
                    "--race".to_string(),
                    "50".to_string(),
                    "--json".to_string(),
                    exported("plain.json"),
                    "--markdown".to_string(),
                ],
                _ => Vec::new(),
            };
            let (printed, code) = explore(&url, driver, endpoint, port, &extra).await;
            if (driver, endpoint) == ("psycopg2", "plain") {
                let races: Vec<&str> = printed.lines().filter(|l| l.contains("race: ")).collect();
                assert_eq!(races.len(), 4, "{printed}");
                assert!(
                    races.iter().all(|race| race.contains("race: - ")),
                    "{printed}"
                );
            }
            port += 2;
            for (level, verdict) in levels.iter().zip(verdicts) {
                let line = verdict_at(&printed, level);
                if !line.contains(&format!("{level} ")) || !line.contains(verdict) {
                    wrong.push(format!(
                        "{driver} /{endpoint}/ at {level}: expected {verdict}, got {line:?}"
                    ));
                }
            }
            let all_exact = verdicts.iter().all(|v| v.starts_with('+'));
            assert_eq!(code, if all_exact { 0 } else { 1 }, "{printed}");
            // Django's own statements, as it sent them.
            assert!(
                printed.contains(r#"FROM "counter_counter""#)
                    || printed.contains(r#"UPDATE "counter_counter""#),
                "{driver} /{endpoint}/: {printed}"
            );
            // The values bound (psycopg 3) are decoded, as psycopg2 writes them in.
            assert!(
                printed.contains(r#""counter_counter"."id" = 1"#),
                "{driver} /{endpoint}/: {printed}"
            );
            if endpoint == "locked" {
                assert!(printed.contains("FOR UPDATE"), "{printed}");
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let read = |name: &str| std::fs::read_to_string(exported(name)).unwrap();
    let spec = read("locked-repeatable-read.spec");
    assert!(
        spec.contains("setup { SET default_transaction_isolation = 'repeatable read'; }")
            && spec.contains("FOR UPDATE; }")
            && spec.contains("\npermutation s1_1_1"),
        "{spec}"
    );
    let csv = read("locked.csv");
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(
        csv.contains("repeatable read,0,application,exists,-,refused,"),
        "{csv}"
    );
    let json: serde_json::Value = serde_json::from_str(&read("locked.json")).unwrap();
    assert_eq!(json["cells"].as_array().map(Vec::len), Some(4), "{json}");
    assert_eq!(json["meta"]["methods"][0], 0, "{json}");
    // The race beside each level's schedules, in the JSON too.
    let json: serde_json::Value = serde_json::from_str(&read("plain.json")).unwrap();
    let races: Vec<&serde_json::Value> = json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cell| &cell["race"])
        .collect();
    assert_eq!(races.len(), 4, "{json}");
    for race in races {
        assert_eq!(race["verdict"], "-", "{json}");
        assert_eq!(race["requests"], 50, "{json}");
    }
}

/// Bad input from a real application, each a one-line error, exit 2, and no server left
/// running: a request that uses two connections (read on one alias, write on another), an
/// application that dies mid-request, and a driver that insists on TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_django_application_that_cannot_be_explored_is_one_line_and_leaves_nothing() {
    let _cpu = crate::support::busy().await;
    let url = url_of(&fresh_database().await);
    let cases = [
        ("two", "", "more than one connection each", 18_780),
        ("die", "", "the application exited (exit status: 3)", 18_782),
        (
            "locked",
            "COUNTER_DJANGO_SSLMODE=require",
            "insists on TLS",
            18_784,
        ),
    ];
    for (endpoint, env, said, port) in cases {
        let request = format!("GET http://127.0.0.1:{port}/{endpoint}/1/");
        let args = app_args(&url, &request, port, env);
        let out = run_counter(args, &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "/{endpoint}/: {stderr}{stdout}");
        assert!(stderr.contains(said), "/{endpoint}/: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "/{endpoint}/: {stderr}");
        // No server of the fixture left on its port, nor the proxy.
        for left in [port, port + 1] {
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", left)).is_err(),
                "/{endpoint}/: something still listens on {left}"
            );
        }
    }
}

/// The request's headers and body reach the application: the fixture's `/add/` answers 403
/// without its token header (every request an app error, "-"), and with it and its JSON body
/// updates with `F()` (read committed: "+").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_headers_and_body_reach_the_application() {
    let _cpu = crate::support::busy().await;
    let url = url_of(&fresh_database().await);
    let cases = [
        (true, "+ exact", 0, 18_790),
        (false, "- app error", 1, 18_792),
    ];
    for (with_token, verdict, code, port) in cases {
        let request = format!("POST http://127.0.0.1:{port}/add/1/");
        let mut args = app_args(&url, &request, port, "");
        args.extend(
            [
                "--header",
                "Content-Type: application/json",
                "--body",
                r#"{"by": 1}"#,
                "--isolation",
                "read-committed",
            ]
            .map(String::from),
        );
        if with_token {
            args.extend(["--header".to_string(), "X-Token: fixture".to_string()]);
        }
        let out = run_counter(args, &[]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let first = stdout.lines().next().unwrap_or_default();
        assert!(
            first.contains(verdict),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "{stdout}");
    }
    // A header counter cannot send as given is refused before anything runs.
    let out = run_counter(
        [
            "app",
            "--request",
            "GET http://127.0.0.1:18794/x/",
            "--value",
            "SELECT 1",
            "--header",
            "no colon here",
        ],
        &[],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not `Name: value`"), "{stderr}");
}
