//! The SQLite engine: the same API and methods where SQLite can express them, n/a with a
//! reason where it cannot, and the matrix over it.

use std::sync::Arc;

use counter::engines::sqlite::SqliteFile;
use counter::engines::{Backend, Location, OpenOptions};
use counter::hammer::{self, Control, HammerConfig, Target};
use counter::model::Isolation;
use counter::model::MethodId;
use counter::model::Outcome;
use counter::server::AppState;
use reqwest::StatusCode;

use crate::support::HttpServer;

struct SqliteServer {
    http: HttpServer,
    _file: SqliteFile,
}

impl std::ops::Deref for SqliteServer {
    type Target = HttpServer;

    fn deref(&self) -> &HttpServer {
        &self.http
    }
}

async fn start() -> SqliteServer {
    let file = SqliteFile::create().unwrap();
    let location = Location::Sqlite(file.path());
    let backend = Backend::open(&location, &OpenOptions::new(Isolation::Serializable, 10))
        .await
        .unwrap();
    SqliteServer {
        http: HttpServer::spawn(AppState::with_backend(backend, 0)).await,
        _file: file,
    }
}

impl SqliteServer {
    async fn hammer(&self, method: MethodId) -> hammer::HammerRun {
        let target = Target::parse(&self.handle.base_url()).unwrap();
        let mut config = HammerConfig::new(vec![target], method, 100);
        config.reset = true;
        hammer::run(&config, Arc::new(Control::default()))
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_runs_what_it_can_express_and_says_why_not_the_rest() {
    let _cpu = crate::support::busy().await;
    let server = start().await;
    let (_, info) = server.call(reqwest::Method::GET, "/api/v1/info").await;
    assert_eq!(info["engine"], "sqlite");
    assert_eq!(info["effective_isolation"], "serializable");
    let unavailable: Vec<u64> = info["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["number"].as_u64().unwrap())
        .collect();
    assert_eq!(unavailable, [2, 6]);
    assert!(
        info["methods"][0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("BEGIN IMMEDIATE")
    );
    for method in [1, 3, 4, 5, 7, 8, 9, 10, 11] {
        for k in 1..=3 {
            let path = format!("/api/v1/endpoint/counter/{method}/");
            let (status, body) = server.call(reqwest::Method::POST, &path).await;
            assert_eq!(status, StatusCode::OK, "method {method}: {body}");
            // Method 10 answers its slot's count (at most k), method 11 none.
            match method {
                11 => assert!(body["count"].is_null(), "{body}"),
                10 => assert!(body["count"].as_i64().unwrap() <= k, "{body}"),
                _ => assert_eq!(body["count"], k, "method {method}: {body}"),
            }
        }
    }
    for method in [2, 6] {
        let path = format!("/api/v1/endpoint/counter/{method}/");
        let (status, body) = server.call(reqwest::Method::POST, &path).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"], "not_applicable");
        assert!(body["message"].as_str().unwrap().contains("SQLite has no"));
    }
    let (_, list) = server
        .call(reqwest::Method::GET, "/api/v1/endpoint/count/")
        .await;
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 9, "no row for the n/a methods: {list}");
    assert!(
        rows.iter().all(|row| row["count"] == 3),
        "the reads add up: {list}"
    );
    let (_, deleted) = server
        .call(reqwest::Method::DELETE, "/api/v1/endpoint/count/")
        .await;
    assert_eq!(deleted["deleted"], 9);
    server.http.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_serializes_writers_and_refuses_stale_read_modify_write() {
    let _cpu = crate::support::racing().await;
    let server = start().await;
    let run = server.hammer(MethodId::TableLock).await;
    assert_eq!(run.outcome, Outcome::Exact, "BEGIN IMMEDIATE: {run:?}");
    let run = server.hammer(MethodId::AtomicUpdate).await;
    assert_eq!(run.outcome, Outcome::Exact, "{run:?}");
    let run = server.hammer(MethodId::ReadModifyWrite).await;
    assert_eq!(
        run.outcome,
        Outcome::Rejected,
        "a stale deferred writer is refused: {run:?}"
    );
    assert!(
        run.errors.keys().all(|k| k.starts_with("SQLITE_BUSY")),
        "{:?}",
        run.errors
    );
    assert_eq!(
        run.after,
        Some(run.acknowledged as i64),
        "nothing acknowledged lost"
    );
    server.http.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matrix_on_sqlite_marks_what_sqlite_cannot_do() {
    let _cpu = crate::support::racing().await;
    let dir = crate::support::TempDir::new("sqlite-matrix");
    let csv = dir.join("sqlite.csv");
    let csv_arg = csv.to_str().unwrap();
    let out = crate::support::run_counter(
        [
            "matrix",
            "--engine",
            "sqlite",
            "--methods",
            "1,2,5",
            "--levels",
            "read-committed,serializable",
            "--markdown",
            "--csv",
            csv_arg,
        ],
        &[],
    )
    .await;
    let stdout = crate::support::stdout_of_success(&out);
    assert!(
        stdout.contains("| read committed     | n/a           | n/a         | n/a       |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| serializable       | +             | n/a         | +         |"),
        "{stdout}"
    );
    assert!(stdout.contains("SQLite has no row locks"), "{stdout}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "only the runnable cells have rows: {text}");
    assert!(rows.iter().all(|r| r.starts_with("sqlite,")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_engines_are_compared_side_by_side() {
    let _cpu = crate::support::racing().await;
    let out = crate::support::run_counter(
        [
            "matrix",
            "--engine",
            "postgres,sqlite",
            "--methods",
            "1,2",
            "--levels",
            "serializable",
            "--markdown",
            "--requests",
            "40",
        ],
        &[],
    )
    .await;
    let stdout = crate::support::stdout_of_success(&out);
    assert!(stdout.contains("== side by side"), "{stdout}");
    assert!(
        stdout.contains("| isolation    | method        | postgresql | sqlite  |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| serializable | 1. table lock | + exact    | + exact |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| serializable | 2. row lock   | - rejected | n/a     |"),
        "{stdout}"
    );
}
