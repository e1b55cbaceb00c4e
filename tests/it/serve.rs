//! `counter serve`: methods, isolation levels, concurrency, bad input, shutdown.

use std::time::Duration;

use counter::model::Isolation;
use reqwest::{Method, StatusCode};

use crate::process::{process_exists, start_serve_process, wait_until};
use crate::support::start_server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_method_at_each_level_counts_sequential_requests() {
    let _cpu = crate::support::busy().await;
    for isolation in Isolation::ALL {
        let server = start_server(isolation, 4).await;
        for method in 1..=3u32 {
            let id = i64::from(method);
            assert_eq!(
                server.count(id).await,
                None,
                "row {id} absent before first use"
            );
            for k in 1..=3i64 {
                let (status, body) = server.increment(method).await;
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "{isolation} method {method}: {body}"
                );
                assert_eq!(body["count"], k, "{isolation} method {method}: {body}");
                assert_eq!(body["method"], method);
                assert_eq!(body["attempts"], 1);
            }
            assert_eq!(
                server.count(id).await,
                Some(3),
                "{isolation} method {method}"
            );
        }
        let (_, info) = server.call(Method::GET, "/api/v1/info").await;
        // PostgreSQL runs read uncommitted as read committed, and the info says so.
        let runs_as = match isolation {
            Isolation::ReadUncommitted => Isolation::ReadCommitted,
            other => other,
        };
        assert_eq!(info["effective_isolation"], runs_as.sql_name());
        assert_eq!(info["isolation"], isolation.sql_name());
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_increments_at_read_committed_are_exact() {
    let _cpu = crate::support::racing().await;
    let server = start_server(Isolation::ReadCommitted, 10).await;
    for method in 1..=3u32 {
        // The row does not exist yet: the creation race is part of the run.
        let answers = server.concurrent_increments(method, 100).await;
        let failures: Vec<_> = answers.iter().filter(|(s, _)| !s.is_success()).collect();
        assert!(failures.is_empty(), "method {method}: {failures:?}");
        assert_eq!(
            server.count(i64::from(method)).await,
            Some(100),
            "method {method}"
        );
        let mut written: Vec<i64> = answers
            .iter()
            .map(|(_, b)| b["count"].as_i64().unwrap())
            .collect();
        written.sort_unstable();
        assert_eq!(
            written,
            (1..=100).collect::<Vec<_>>(),
            "method {method}: each count once"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_lock_at_repeatable_read_rejects_with_40001_and_loses_nothing() {
    let _cpu = crate::support::racing().await;
    let server = start_server(Isolation::RepeatableRead, 10).await;
    let (status, _) = server.increment(2).await;
    assert_eq!(status, StatusCode::OK);
    let answers = server.concurrent_increments(2, 100).await;
    let acknowledged = answers.iter().filter(|(s, _)| s.is_success()).count() as i64;
    let serialization_failures = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["sqlstate"] == "40001")
        .count();
    let others: Vec<_> = answers
        .iter()
        .filter(|(s, _)| !s.is_success() && *s != StatusCode::CONFLICT)
        .collect();
    assert!(others.is_empty(), "only 200 and 409 expected: {others:?}");
    assert!(
        serialization_failures > 0,
        "some requests must be refused with 40001"
    );
    assert_eq!(
        server.count(2).await,
        Some(1 + acknowledged),
        "nothing acknowledged is lost"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_json_4xx_and_changes_nothing() {
    let _cpu = crate::support::busy().await;
    let server = start_server(Isolation::ReadCommitted, 2).await;
    for method in 1..=3 {
        server.increment(method).await;
    }
    let long = format!("/api/v1/endpoint/counter/{}/", "7".repeat(4000));
    let cases: Vec<(Method, String, StatusCode, &str)> = vec![
        (
            Method::POST,
            "/api/v1/endpoint/counter/13/".into(),
            StatusCode::NOT_FOUND,
            "unknown_method",
        ),
        // The custom method, on a server started without a script.
        (
            Method::POST,
            "/api/v1/endpoint/counter/custom".into(),
            StatusCode::CONFLICT,
            "not_applicable",
        ),
        (
            Method::POST,
            "/api/v1/endpoint/counter/0".into(),
            StatusCode::NOT_FOUND,
            "unknown_method",
        ),
        // Digits only, as for the ids (`GET /count/+3/` is a 400 too).
        (
            Method::POST,
            "/api/v1/endpoint/counter/+3/".into(),
            StatusCode::NOT_FOUND,
            "unknown_method",
        ),
        (
            Method::POST,
            "/api/v1/endpoint/counter/abc/".into(),
            StatusCode::NOT_FOUND,
            "unknown_method",
        ),
        (
            Method::POST,
            "/api/v1/endpoint/counter/-1/".into(),
            StatusCode::BAD_REQUEST,
            "out_of_range",
        ),
        (
            Method::POST,
            "/api/v1/endpoint/counter/99999999999999999999999/".into(),
            StatusCode::BAD_REQUEST,
            "out_of_range",
        ),
        (Method::POST, long, StatusCode::BAD_REQUEST, "out_of_range"),
        (
            Method::POST,
            "/api/v1/endpoint/counter/%FF%FE/".into(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::PUT,
            "/api/v1/endpoint/counter/1/".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::DELETE,
            "/api/v1/endpoint/counter/1/".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/api/v1/endpoint/count/abc/".into(),
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            Method::GET,
            "/api/v1/endpoint/count/-3/".into(),
            StatusCode::BAD_REQUEST,
            "out_of_range",
        ),
        (
            Method::DELETE,
            "/api/v1/endpoint/count/0/".into(),
            StatusCode::BAD_REQUEST,
            "out_of_range",
        ),
        (
            Method::DELETE,
            "/api/v1/endpoint/count/1.5/".into(),
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            Method::GET,
            "/api/v1/endpoint/count/77/".into(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/no/such/route".into(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::POST,
            "/api/v1/info".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (verb, path, status, code) in cases {
        let (got, body) = server.call(verb.clone(), &path).await;
        let shown: String = path.chars().take(60).collect();
        assert_eq!(got, status, "{verb} {shown}: {body}");
        assert_eq!(body["error"], code, "{verb} {shown}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (_, body) = server
        .call(Method::POST, "/api/v1/endpoint/counter/custom")
        .await;
    let words = body["message"].as_str().unwrap();
    assert!(
        words.contains("--method-file") && !words.contains("engine"),
        "{body}"
    );
    for id in 1..=3 {
        assert_eq!(server.count(id).await, Some(1), "row {id} unchanged");
    }
    assert_eq!(server.count(9).await, None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_resets_and_the_original_get_path_work() {
    let _cpu = crate::support::busy().await;
    let server = start_server(Isolation::ReadCommitted, 2).await;
    let (status, _) = server
        .call(Method::GET, "/api/v1/endpoint/counter/3/")
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "GET increments, like the original client script"
    );
    let (status, _) = server
        .call(Method::POST, "/api/v1/endpoint/counter/atomic-update")
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "slugs work, without trailing slash too"
    );
    let (_, list) = server.call(Method::GET, "/api/v1/endpoint/count/").await;
    assert_eq!(list, serde_json::json!([{"id": 3, "count": 2}]));
    let (_, one) = server.call(Method::GET, "/api/v1/endpoint/count/3").await;
    assert_eq!(one, serde_json::json!({"id": 3, "count": 2}));
    let (_, deleted) = server
        .call(Method::DELETE, "/api/v1/endpoint/count/3/")
        .await;
    assert_eq!(deleted["deleted"], 1);
    assert_eq!(server.count(3).await, None);
    server.increment(1).await;
    server.increment(2).await;
    let (_, deleted) = server.call(Method::DELETE, "/api/v1/endpoint/count/").await;
    assert_eq!(deleted["deleted"], 2);
    let (status, health) = server.call(Method::GET, "/health").await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, spec) = server.call(Method::GET, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["paths"]["/api/v1/endpoint/counter/{n}/"].is_object());
    let page = server
        .client
        .get(server.url("/api/v1/swagger/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    let home = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let home = home.text().await.unwrap();
    assert!(home.contains("/api/v1/swagger/") && home.contains("/api/v1/endpoint/count/"));
    assert!(
        !home.contains("https://"),
        "the root page loads nothing from outside"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throwaway_cluster_is_gone_after_sigterm_sigint_and_even_sigkill() {
    let _cpu = crate::support::busy().await;
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGKILL] {
        let mut serve = start_serve_process(&[]);
        let (cluster_dir, postmaster_pid) = serve.cluster.clone().expect("a throwaway cluster");
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/endpoint/counter/3/", serve.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(process_exists(postmaster_pid));
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(serve.child.id() as i32, signal) };
        let status = serve.child.wait().unwrap();
        if signal != libc::SIGKILL {
            assert!(
                status.success(),
                "signal {signal}: clean exit, got {status}"
            );
        }
        let gone = wait_until(Duration::from_secs(20), || {
            !process_exists(postmaster_pid) && !cluster_dir.exists()
        });
        assert!(
            gone,
            "signal {signal}: postmaster and {} removed",
            cluster_dir.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_finishes_in_flight_requests_and_loses_nothing() {
    let _cpu = crate::support::busy().await;
    let options = crate::support::fresh_database().await;
    let url = crate::support::url_of(&options);
    let serve = tokio::task::spawn_blocking(move || {
        start_serve_process(&["--database-url", &url, "--think-ms", "20"])
    })
    .await
    .unwrap();
    let client = crate::support::client();
    let mut tasks = tokio::task::JoinSet::new();
    const REQUESTS: i64 = 150;
    for _ in 0..REQUESTS {
        let request = client
            .post(format!("{}/api/v1/endpoint/counter/2/", serve.base_url))
            .timeout(Duration::from_secs(20));
        tasks.spawn(async move { request.send().await.map(|r| r.status()) });
    }
    // Signal once the server has taken every request (each is in flight, or already done),
    // not after a guessed pause: then every one of them must be answered.
    let pool = sqlx::PgPool::connect_with(options.clone()).await.unwrap();
    let taken = wait_until_async(Duration::from_secs(20), || async {
        let in_flight = in_flight(&client, &serve.base_url, 2).await?;
        let done: i64 = sqlx::query_scalar("SELECT count FROM counter WHERE id = 2")
            .fetch_optional(&pool)
            .await
            .ok()?
            .unwrap_or(0);
        (in_flight > 0 && in_flight + done >= REQUESTS).then_some(in_flight)
    })
    .await
    .expect("the server took every request");
    assert!(taken > 0, "some still in flight when the signal comes");
    let mut serve = serve;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(serve.child.id() as i32, libc::SIGTERM) };
    let answers = tasks.join_all().await;
    let status = tokio::task::spawn_blocking(move || serve.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "graceful exit: {status}");
    // Every request the server had taken was finished and answered: none aborted, none
    // left unknown.
    let failed: Vec<_> = answers
        .iter()
        .filter(|a| !matches!(a, Ok(s) if s.is_success()))
        .collect();
    assert!(
        failed.is_empty(),
        "{} not answered 2xx: {failed:?}",
        failed.len()
    );
    let count: i64 = sqlx::query_scalar("SELECT count FROM counter WHERE id = 2")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, REQUESTS, "every acknowledged increment is there");
}

/// How many increments of row `id` the server at `base` has in progress, as its info says.
async fn in_flight(client: &reqwest::Client, base: &str, id: i64) -> Option<i64> {
    let response = client
        .get(format!("{base}/api/v1/info"))
        .send()
        .await
        .ok()?;
    let info: serde_json::Value = response.json().await.ok()?;
    Some(info["in_flight"][id.to_string()].as_i64().unwrap_or(0))
}

/// Polls `probe` every 20 ms until it answers, for at most `deadline`.
async fn wait_until_async<T, F, Fut>(deadline: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < deadline {
        if let Some(answer) = probe().await {
            return Some(answer);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hammer_keeps_its_summary_when_the_server_goes_away() {
    let _cpu = crate::support::busy().await;
    let options = crate::support::fresh_database().await;
    let url = crate::support::url_of(&options);
    let serve = tokio::task::spawn_blocking(move || {
        start_serve_process(&["--database-url", &url, "--think-ms", "20"])
    })
    .await
    .unwrap();
    let output = std::env::temp_dir().join(format!("counter-summary-{}.json", std::process::id()));
    let address = serve.base_url.clone();
    let output_arg = output.to_str().unwrap().to_string();
    let hammer = tokio::spawn(async move {
        crate::support::run_counter(
            [
                "hammer",
                "-d",
                &address,
                "-n",
                "1",
                "--requests",
                "3000",
                "--concurrency",
                "32",
                "--format",
                "json",
                "--output",
                &output_arg,
            ],
            &[],
        )
        .await
    });
    // Once the run is under way (increments in flight on the server), the server goes away.
    let client = crate::support::client();
    wait_until_async(Duration::from_secs(20), || async {
        (in_flight(&client, &serve.base_url, 1).await? > 0).then_some(())
    })
    .await
    .expect("the hammer started");
    let mut serve = serve;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(serve.child.id() as i32, libc::SIGTERM) };
    let out = hammer.await.unwrap();
    tokio::task::spawn_blocking(move || serve.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    std::fs::remove_file(&output).unwrap();
    assert_eq!(summary["outcome"], "unknown", "{summary}");
    assert!(summary["final_count"].is_null(), "{summary}");
    assert!(summary["change"].is_null(), "{summary}");
    assert!(
        summary["note"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "the reason: {summary}"
    );
    let acknowledged = summary["acknowledged"].as_u64().unwrap();
    assert!(acknowledged > 0, "what it measured is kept: {summary}");
    let mut conn = sqlx::ConnectOptions::connect(&options).await.unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count FROM counter WHERE id = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let unknown = summary["unknown"].as_u64().unwrap();
    assert!(
        acknowledged as i64 <= stored && stored <= (acknowledged + unknown) as i64,
        "{stored} against {summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_stops_serve_before_a_database_starts_and_an_open_bind_warns() {
    let _cpu = crate::support::busy().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    // No database configured: serve would start a throwaway cluster (seconds of initdb).
    let out = crate::support::run_counter(&["serve", "--bind", &bind], &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("could not listen on {bind}")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("throwaway"),
        "no database was started: {stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(taken);
    // Any address but loopback: one line of warning, then it serves.
    let url = crate::support::url_of(&crate::support::fresh_database().await);
    let mut child = crate::process::counter_command()
        .args(["serve", "--bind", "0.0.0.0:0", "--database-url", &url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines =
        tokio::task::spawn_blocking(move || crate::process::lines_until(stderr, "listening on"))
            .await
            .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let warning = lines
        .iter()
        .find(|line| line.starts_with("warning: listening on 0.0.0.0"));
    assert!(
        warning.is_some_and(|w| w.contains("no authentication")),
        "{lines:#?}"
    );
}

/// Schemathesis (from PyPI; `.ci/run` installs it) against the server's own OpenAPI
/// document, every check, a fixed seed and a bounded number of examples: the document says
/// what the server does (each status a path answers, the ids' minimum, the methods' pattern,
/// the GET that increments), and no valid request gets a 4xx it did not promise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_openapi_document_true() {
    let found = std::process::Command::new("st")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        crate::support::skipped(
            "schemathesis_finds_the_openapi_document_true",
            "Schemathesis is not installed (python3 -m pip install schemathesis; .ci/run does)",
        );
        return;
    }
    let _cpu = crate::support::busy().await;
    let server = start_server(Isolation::ReadCommitted, 4).await;
    let url = server.url(counter::api::OPENAPI_PATH);
    let dir = crate::support::TempDir::new("schemathesis");
    let out = tokio::process::Command::new("st")
        .args([
            "run",
            &url,
            "--checks",
            "all",
            "--max-examples",
            "30",
            "--seed",
            "1",
        ])
        .current_dir(dir.join(""))
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
    server.stop().await;
}
