//! `counter serve`: methods, isolation levels, concurrency, bad input, shutdown.

use std::time::Duration;

use counter::model::Isolation;
use reqwest::{Method, StatusCode};

use crate::process::{process_exists, start_serve_process, wait_until};
use crate::support::start_server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_method_at_each_level_counts_sequential_requests() {
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
    let server = start_server(Isolation::ReadCommitted, 2).await;
    for method in 1..=3 {
        server.increment(method).await;
    }
    let long = format!("/api/v1/endpoint/counter/{}/", "7".repeat(4000));
    let cases: Vec<(Method, String, StatusCode, &str)> = vec![
        (
            Method::POST,
            "/api/v1/endpoint/counter/9/".into(),
            StatusCode::NOT_FOUND,
            "unknown_method",
        ),
        (
            Method::POST,
            "/api/v1/endpoint/counter/0".into(),
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
    for id in 1..=3 {
        assert_eq!(server.count(id).await, Some(1), "row {id} unchanged");
    }
    assert_eq!(server.count(9).await, None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_resets_and_the_original_get_path_work() {
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
    for _ in 0..300 {
        let request = client
            .post(format!("{}/api/v1/endpoint/counter/2/", serve.base_url))
            .timeout(Duration::from_secs(20));
        tasks.spawn(async move {
            match request.send().await {
                Ok(response) => Ok(response.status()),
                Err(err) => Err(err.is_connect()),
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut child = serve.child;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let answers = tasks.join_all().await;
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "graceful exit: {status}");
    let acknowledged = answers
        .iter()
        .filter(|a| matches!(a, Ok(s) if s.is_success()))
        .count() as i64;
    // Not applied for sure: a 4xx, or a connection never made. Everything else is unknown.
    let unknown = answers
        .iter()
        .filter(|a| match a {
            Ok(s) => s.is_server_error(),
            Err(was_connect) => !was_connect,
        })
        .count() as i64;
    let mut conn = sqlx::ConnectOptions::connect(&options).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count FROM counter WHERE id = 2")
        .fetch_optional(&mut conn)
        .await
        .unwrap()
        .unwrap_or(0);
    assert!(acknowledged > 0, "some requests finished before the signal");
    assert!(
        acknowledged <= count && count <= acknowledged + unknown,
        "acknowledged {acknowledged} <= count {count} <= acknowledged + unknown {}",
        acknowledged + unknown
    );
}
