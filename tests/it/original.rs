//! Works with the original, both ways: counter hammer against a server with exactly the
//! original Django project's HTTP surface, and the original's habits against counter serve.
//!
//! The original's surface, built here over the real test database (DRF 3.14 on Django 4.2, as
//! the original ran): `GET /api/v1/endpoint/counter/{n}/` increments with method n (1-3) and
//! answers 200 with an empty body; a database error or an unknown method is a 500 HTML page;
//! POST and HEAD answer 405 with `Allow`; OPTIONS answers 200 with metadata; a path without
//! its trailing slash answers 301; `GET /api/v1/endpoint/count/` lists every row, unordered;
//! there is no per-row read, no reset, no info.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use counter::engines::Backend;
use counter::methods::retry::RetryPolicy;
use counter::model::{Isolation, MethodId};
use serde_json::Value;

use crate::support::{fresh_database, run_counter, start_server};

/// A server with the original's surface, in this process, and the database behind it.
struct OriginalServer {
    addr: String,
    backend: Arc<Backend>,
    task: tokio::task::JoinHandle<()>,
}

impl OriginalServer {
    async fn start(isolation: Isolation) -> OriginalServer {
        let options = fresh_database().await;
        let location = crate::support::location_of(&options);
        let open = counter::engines::OpenOptions::new(isolation, 18);
        let backend = Arc::new(Backend::open(&location, &open).await.unwrap());
        let app = Router::new()
            .route(
                "/api/v1/endpoint/counter/{n}/",
                get(increment)
                    .post(not_allowed)
                    .head(not_allowed)
                    .options(metadata),
            )
            .route("/api/v1/endpoint/count/", get(list))
            .fallback(slash_or_404)
            .with_state(backend.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        OriginalServer {
            addr,
            backend,
            task,
        }
    }

    async fn count(&self, id: i64) -> i64 {
        let rows = self.backend.list_counts().await.unwrap();
        rows.iter().find(|row| row.0 == id).map_or(0, |row| row.1)
    }
}

impl Drop for OriginalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn server_error() -> Response {
    let page = "<!doctype html><html><head><title>Server Error (500)</title></head><body><h1>Server Error (500)</h1><p></p></body></html>";
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/html")],
        page,
    )
        .into_response()
}

/// The original's increment: 200 and an empty body, or a 500 page for anything that went
/// wrong (Django answered serialization failures and unique violations that way).
async fn increment(State(backend): State<Arc<Backend>>, Path(n): Path<String>) -> Response {
    let method = match n.parse::<u64>().ok().and_then(MethodId::from_number) {
        Some(method) if method.number() <= 3 => method,
        _ => return server_error(),
    };
    match backend
        .increment(method, RetryPolicy::default())
        .await
        .result
    {
        Ok(_) => StatusCode::OK.into_response(),
        Err(_) => server_error(),
    }
}

async fn not_allowed() -> Response {
    let body = r#"{"detail":"Method not allowed."}"#;
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [
            (header::ALLOW, "GET, OPTIONS"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        body,
    )
        .into_response()
}

async fn metadata() -> Response {
    let body = r#"{"name":"Counter","description":"","renders":["application/json"],"parses":["application/json"]}"#;
    (
        StatusCode::OK,
        [
            (header::ALLOW, "GET, OPTIONS"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        body,
    )
        .into_response()
}

async fn list(State(backend): State<Arc<Backend>>) -> Response {
    match backend.list_counts().await {
        Ok(rows) => {
            // Unordered, as the original's queryset was.
            let rows: Vec<Value> = rows
                .iter()
                .rev()
                .map(|(id, count)| serde_json::json!({"id": id, "count": count}))
                .collect();
            axum::Json(rows).into_response()
        }
        Err(_) => server_error(),
    }
}

/// Django's APPEND_SLASH: a known path without its slash is a 301; anything else a 404 page.
async fn slash_or_404(uri: Uri) -> Response {
    let path = uri.path();
    let known = path.starts_with("/api/v1/endpoint/counter/") || path == "/api/v1/endpoint/count";
    if known && !path.ends_with('/') {
        return (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, format!("{path}/"))],
        )
            .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html")],
        "<h1>Not Found</h1>",
    )
        .into_response()
}

async fn hammer_json(addr: &str, extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec!["hammer", "-d", addr, "--format", "json"];
    args.extend_from_slice(extra);
    let out = run_counter(args, &[]).await;
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hammer_judges_a_server_with_only_the_original_surface() {
    let _cpu = crate::support::racing().await;
    for isolation in [Isolation::ReadCommitted, Isolation::RepeatableRead] {
        let server = OriginalServer::start(isolation).await;
        for method in 1..=3i64 {
            let n = method.to_string();
            let before = server.count(method).await;
            let (code, json, stderr) =
                hammer_json(&server.addr, &["-n", &n, "--http-method", "get"]).await;
            let after = server.count(method).await;
            let case = format!("{isolation} method {method}: {stderr} {json}");
            // The counts are the database's, read through the list endpoint.
            assert_eq!(json["before"], before, "{case}");
            assert_eq!(json["final_count"], after, "{case}");
            assert_eq!(json["change"], after - before, "{case}");
            // What the hammer cannot know about a foreign server is null, not made up.
            for fact in [
                "engine",
                "isolation",
                "effective_isolation",
                "pool_size",
                "overlap",
            ] {
                assert!(json[fact].is_null(), "{fact}: {case}");
            }
            let exact = isolation == Isolation::ReadCommitted || method == 1;
            if exact {
                assert_eq!(code, Some(0), "{case}");
                assert_eq!(json["outcome"], "exact", "{case}");
                assert_eq!(json["verdict"], "+", "{case}");
            } else {
                // Django's 500s on 40001 and 23505: unknown, never "refused", and none applied.
                assert_eq!(code, Some(1), "{case}");
                assert_eq!(json["rejected"], 0, "{case}");
                assert!(json["unknown"].as_u64().unwrap() > 0, "{case}");
                assert_eq!(json["outcome"], "failed", "{case}");
                assert!(json["errors"]["HTTP 500"].as_u64().unwrap() > 0, "{case}");
            }
        }
        // POST, the hammer's default: every one refused with 405, nothing changed, one line
        // that says what to do.
        let before = server.count(3).await;
        let (code, _, stderr) = hammer_json(&server.addr, &["-n", "3"]).await;
        assert_eq!(code, Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--http-method get"), "{stderr}");
        assert_eq!(server.count(3).await, before);
        // No reset there: one line, exit 2, no increment sent.
        let (code, _, stderr) = hammer_json(
            &server.addr,
            &["-n", "3", "--http-method", "get", "--reset"],
        )
        .await;
        assert_eq!(code, Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("cannot reset"), "{stderr}");
        assert_eq!(server.count(3).await, before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_the_original_client_working_and_head_changes_nothing() {
    let _cpu = crate::support::busy().await;
    let server = start_server(Isolation::ReadCommitted, 4).await;
    let url = server.url("/api/v1/endpoint/counter/3/");
    // The original client's request: GET increments.
    let response = server.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.count(3).await, Some(1));
    // HEAD (curl -I) changes nothing, and says which verbs the path takes.
    let response = server.client.head(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        response.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    let response = server
        .client
        .head(server.url("/api/v1/endpoint/counter/3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(server.count(3).await, Some(1), "HEAD incremented");
    // OPTIONS answers with the verbs.
    let response = server
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["allow"], "GET, POST, OPTIONS");
    assert_eq!(server.count(3).await, Some(1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_the_level_as_sql_writes_it() {
    let _cpu = crate::support::busy().await;
    let mut serve = crate::process::start_serve_process(&["--isolation", "repeatable read"]);
    let info = crate::support::get_json(&format!("{}/api/v1/info", serve.base_url)).await;
    assert_eq!(info["isolation"], "repeatable read");
    assert_eq!(info["effective_isolation"], "repeatable read");
    serve.stop();
}
