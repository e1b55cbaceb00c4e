//! The load itself: workers that each open a keep-alive connection, wait at a start barrier,
//! then take increments from a shared counter until none are left; and what each answer
//! means (acknowledged, a definite "not applied", or unknown).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method;
use serde::Deserialize;

use super::config::{Control, HammerConfig, HttpVerb};
use super::http;
use super::stats::{RequestEnd, Tally, WrittenCounts};
use crate::api::{self, codes};
use crate::model::DbInterval;

struct Shared {
    next: AtomicU64,
    tally: Mutex<Tally>,
    written: WrittenCounts,
    control: Arc<Control>,
}

/// What firing the increments measured.
pub(super) struct Fired {
    pub tally: Tally,
    /// Pairs of acknowledged requests that wrote the same count.
    pub duplicate_writes: u64,
    /// Wall time from the start barrier on.
    pub duration: Duration,
}

/// Fires the run's increments.
pub(super) async fn fire(config: &HammerConfig, before: i64, control: Arc<Control>) -> Fired {
    let workers = config.concurrency.min(config.requests);
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        tally: Mutex::new(Tally::new()),
        written: WrittenCounts::new(before, config.requests),
        control,
    });
    let barrier = Arc::new(tokio::sync::Barrier::new(workers as usize + 1));
    let path: Arc<str> = match &config.path {
        Some(path) => path.as_str().into(),
        None => api::increment_path(config.method.number()).into(),
    };
    let method = match config.verb {
        HttpVerb::Post => Method::POST,
        HttpVerb::Get => Method::GET,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let (shared, barrier, path, method) = (
            shared.clone(),
            barrier.clone(),
            path.clone(),
            method.clone(),
        );
        // Workers are dealt to the servers round-robin; each sticks to its server.
        let endpoint = config.targets[(worker % config.targets.len() as u64) as usize]
            .endpoint
            .clone();
        let (timeout, requests) = (config.timeout, config.requests);
        tasks.spawn(async move {
            // Each worker opens its own connection before the start line, so that the
            // increments overlap instead of queueing behind connection set-up.
            let mut connection = http::Connection::open(&endpoint, timeout).await.ok();
            barrier.wait().await;
            while !shared.control.stopped()
                && shared.next.fetch_add(1, Ordering::Relaxed) < requests
            {
                let started = Instant::now();
                let answer =
                    http::send_on(&mut connection, &endpoint, method.clone(), &path, timeout).await;
                let latency = started.elapsed();
                let end = classify(answer);
                if let RequestEnd::Acknowledged {
                    written: Some(count),
                    ..
                } = end
                {
                    shared.written.record(count);
                }
                if let Ok(mut tally) = shared.tally.lock() {
                    tally.record(&end, latency);
                }
                shared.control.count_completed();
            }
        });
    }
    barrier.wait().await;
    let started = Instant::now();
    while tasks.join_next().await.is_some() {}
    let duration = started.elapsed();
    let tally = shared.tally.lock().map(|t| t.clone()).unwrap_or_default();
    Fired {
        tally,
        duplicate_writes: shared.written.duplicates(),
        duration,
    }
}

#[derive(Deserialize)]
struct Answer {
    count: Option<i64>,
    /// Set when `count` is not the counter after the increment (a slot's, or none).
    count_is: Option<String>,
    db_started_us: Option<u64>,
    db_finished_us: Option<u64>,
    sqlstate: Option<String>,
    /// The engine's own code (`ER_LOCK_DEADLOCK`, `SQLITE_BUSY`; the SQLSTATE on PostgreSQL):
    /// the errors table is keyed by it, so MariaDB's deadlocks and serialization failures
    /// stay apart although both are SQLSTATE 40001.
    code: Option<String>,
    /// The error code, for rejections without a SQLSTATE (e.g. `cas_exhausted`).
    error: Option<String>,
    /// `false`: a 5xx the server knows applied nothing (no database connection was had).
    applied: Option<bool>,
}

/// How an increment ended, from its answer. A request that never reached the server is a
/// definite "not applied"; one that got no complete answer has an unknown fate.
fn classify(answer: Result<http::Reply, http::HttpError>) -> RequestEnd {
    let (status, body) = match answer {
        Ok(reply) => (reply.status, reply.body),
        Err(err) if err.never_sent() => {
            return RequestEnd::Rejected {
                reason: crate::model::codes::NOT_CONNECTED.into(),
                status: None,
            };
        }
        Err(http::HttpError::Timeout) => {
            return RequestEnd::Unknown {
                reason: "timeout".into(),
                status: None,
            };
        }
        Err(_) => {
            return RequestEnd::Unknown {
                reason: "connection".into(),
                status: None,
            };
        }
    };
    let answer = serde_json::from_slice::<Answer>(&body).ok();
    if status.is_success() {
        let interval = answer.as_ref().and_then(|a| {
            let (started_us, finished_us) = (a.db_started_us?, a.db_finished_us?);
            (started_us > 0).then_some(DbInterval {
                started_us,
                finished_us,
            })
        });
        // Only the counter's own values tell lost updates apart: a slot's count repeats
        // across slots.
        let written = answer
            .filter(|a| a.count_is.is_none())
            .and_then(|a| a.count);
        return RequestEnd::Acknowledged { written, interval };
    }
    let error = answer.as_ref().and_then(|a| a.error.as_deref());
    // A shed request was never started, one the server says it sent nothing for was not
    // applied: as definite a "not applied" as a 4xx.
    let not_applied = answer.as_ref().and_then(|a| a.applied) == Some(false);
    if status.is_client_error() || error == Some(codes::OVERLOADED) || not_applied {
        let reason = answer
            .and_then(|a| a.code.or(a.sqlstate).or(a.error))
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        RequestEnd::Rejected {
            reason,
            status: Some(status.as_u16()),
        }
    } else {
        // An ambiguous commit names its SQLSTATE (CockroachDB's 40003); other failures
        // only have their status.
        let reason = answer
            .and_then(|a| a.code.or(a.sqlstate))
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        RequestEnd::Unknown {
            reason,
            status: Some(status.as_u16()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Result<http::Reply, http::HttpError> {
        Ok(http::Reply {
            status: hyper::StatusCode::from_u16(status).unwrap(),
            body: hyper::body::Bytes::from(body.to_string()),
            location: None,
            allow: None,
        })
    }

    /// Each answer, and what it says about the increment: only what the server knows was not
    /// applied is rejected; every other failure is unknown.
    #[test]
    fn answers_are_applied_refused_or_unknown() {
        let rejected = |reason: &str, status| RequestEnd::Rejected {
            reason: reason.into(),
            status: Some(status),
        };
        let unknown = |reason: &str, status| RequestEnd::Unknown {
            reason: reason.into(),
            status: Some(status),
        };
        let cases = [
            (
                409,
                r#"{"error":"serialization_failure","sqlstate":"40001","code":"40001"}"#,
                rejected("40001", 409),
            ),
            (
                503,
                r#"{"error":"overloaded"}"#,
                rejected("overloaded", 503),
            ),
            (
                503,
                r#"{"error":"database_unavailable","applied":false}"#,
                rejected("database_unavailable", 503),
            ),
            (
                503,
                r#"{"error":"database_unavailable"}"#,
                unknown("HTTP 503", 503),
            ),
            (
                503,
                r#"{"error":"outcome_unknown","sqlstate":"40003","code":"40003"}"#,
                unknown("40003", 503),
            ),
            (500, "not json", unknown("HTTP 500", 500)),
            (404, "", rejected("HTTP 404", 404)),
        ];
        for (status, body, expected) in cases {
            assert_eq!(classify(reply(status, body)), expected, "{status} {body}");
        }
        assert!(matches!(
            classify(reply(200, r#"{"id":3,"count":7}"#)),
            RequestEnd::Acknowledged {
                written: Some(7),
                ..
            }
        ));
    }
}
