//! The hot-counter designs (methods 9-11): exact under 100 concurrent requests, with the
//! reads adding up what they store, and method 9's batches refused and retried as a whole.

use std::time::Duration;

use counter::model::Isolation;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;

use crate::support::{fresh_database, run_counter, start_server, start_server_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_design_counts_100_concurrent_increments_exactly() {
    let _cpu = crate::support::racing().await;
    let server = start_server(Isolation::ReadCommitted, 10).await;
    for (method, count_is) in [(9u32, None), (10, Some("slot")), (11, Some("unknown"))] {
        let answers = server.concurrent_increments(method, 100).await;
        let failures: Vec<_> = answers.iter().filter(|(s, _)| !s.is_success()).collect();
        assert!(failures.is_empty(), "method {method}: {failures:?}");
        for (_, body) in &answers {
            assert_eq!(
                body["count_is"].as_str(),
                count_is,
                "method {method}: {body}"
            );
        }
        // The reads add up what each design stores: a row, slots, entries.
        let path = format!("/api/v1/endpoint/count/{method}/");
        let (status, row) = server.call(reqwest::Method::GET, &path).await;
        assert_eq!(status, StatusCode::OK, "{row}");
        assert_eq!(row["count"], 100, "method {method}");
        let (_, list) = server
            .call(reqwest::Method::GET, "/api/v1/endpoint/count/")
            .await;
        let listed = list.as_array().unwrap().iter().find(|r| r["id"] == method);
        assert_eq!(listed.unwrap()["count"], 100, "{list}");
        if method == 9 {
            // Each request of a batch got its own count: 1..=100, once each.
            let mut counts: Vec<i64> = answers
                .iter()
                .map(|(_, b)| b["count"].as_i64().unwrap())
                .collect();
            counts.sort_unstable();
            assert_eq!(counts, (1..=100).collect::<Vec<_>>());
        }
        if method == 11 {
            assert!(answers.iter().all(|(_, b)| b["count"].is_null()));
        }
        // A reset clears them, whatever table they live in.
        let (_, deleted) = server.call(reqwest::Method::DELETE, &path).await;
        assert_eq!(deleted["deleted"], 1, "one counter, however many rows");
        let (status, _) = server.call(reqwest::Method::GET, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matrix_finds_them_exact_at_every_level_with_retry() {
    let _cpu = crate::support::racing().await;
    let dir = crate::support::TempDir::new("hot");
    let csv = dir.join("hot.csv");
    let out = run_counter(
        [
            "matrix",
            "--methods",
            "9,10,11",
            "--retry",
            "10",
            "--csv",
            csv.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    crate::support::stdout_of_success(&out);
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    for line in text.lines().skip(1) {
        let row: Vec<&str> = line.split(',').collect();
        let (method, retry, outcome) = (row[col("method")], row[col("retry")], row[col("outcome")]);
        // With retry every cell is exact; without, the batches (9) and the ledger (11) are
        // already, at every level. (Whether the slots' or the entries' single statements
        // overlapped enough to earn a "+" rather than a "?" depends on the machine; the
        // members of a batch share its interval, so 9 always raced.)
        if retry == "10" || method != "10" {
            assert_eq!(outcome, "exact", "{line}");
            assert_ne!(row[col("verdict")], "-", "{line}");
        }
        if method == "9" {
            assert_eq!(row[col("verdict")], "+", "{line}");
        }
        assert_eq!(row[col("duplicate_writes")], "0", "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_refuses_all_its_requests_and_retry_retries_it() {
    let _cpu = crate::support::racing().await;
    let options = fresh_database().await;
    for retries in [0u32, 5] {
        let server = start_server_on(&options, Isolation::RepeatableRead, 10, retries).await;
        let (status, _) = server.increment(9).await;
        assert_eq!(status, StatusCode::OK, "the row exists");
        // Another session holds the row: the next batch's UPDATE waits for it, and when it
        // commits a change, repeatable read refuses the batch (40001).
        let mut other = sqlx::PgConnection::connect_with(&options).await.unwrap();
        let mut blocker = other.begin().await.unwrap();
        sqlx::query("UPDATE counter SET count = count + 1000 WHERE id = 9")
            .execute(&mut *blocker)
            .await
            .unwrap();
        let answers = {
            let pending = server.concurrent_increments(9, 50);
            let release = async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                blocker.commit().await.unwrap();
            };
            let (answers, ()) = tokio::join!(pending, release);
            answers
        };
        let refused: Vec<&Value> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::CONFLICT)
            .map(|(_, b)| b)
            .collect();
        let acknowledged = answers.iter().filter(|(s, _)| s.is_success()).count() as i64;
        let stored = server.count(9).await.unwrap();
        assert_eq!(
            stored,
            1 + 1000 + acknowledged,
            "retries {retries}: nothing lost or doubled"
        );
        if retries == 0 {
            assert!(!refused.is_empty(), "the waiting batch was refused");
            assert!(
                refused.iter().all(|b| b["sqlstate"] == "40001"),
                "{refused:?}"
            );
        } else {
            assert!(refused.is_empty(), "{refused:?}");
            assert_eq!(acknowledged, 50);
            let retried = answers.iter().filter(|(_, b)| b["attempts"] == 2).count();
            assert!(retried >= 1, "the refused batch ran again");
        }
        server.stop().await;
        sqlx::query("DELETE FROM counter")
            .execute(&mut other)
            .await
            .unwrap();
    }
}
