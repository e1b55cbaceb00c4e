//! Faults on one machine, each bounded in time: the database crashing, pausing, the server
//! being stopped, clients vanishing, overload. After each: acknowledged <= change <=
//! acknowledged + unknown, and no transaction left open.

use std::sync::Arc;
use std::time::Duration;

use counter::engines::postgres;
use counter::hammer::{self, Control, HammerConfig, Target};
use counter::model::Isolation;
use counter::model::MethodId;
use counter::server::AppState;
use reqwest::StatusCode;

use crate::support::{TestServer, own_cluster, start_server_with, thinking};

fn assert_invariant(acknowledged: u64, unknown: u64, change: i64, context: &str) {
    let (ack, unknown) = (acknowledged as i64, unknown as i64);
    assert!(
        ack <= change && change <= ack + unknown,
        "{context}: acknowledged {ack} <= change {change} <= acknowledged + unknown {}",
        ack + unknown
    );
}

async fn health(server: &TestServer) -> StatusCode {
    server
        .client
        .get(server.url("/health"))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::REQUEST_TIMEOUT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_mid_run_then_restarted() {
    let _cpu = crate::support::busy().await;
    let (mut cluster, options) = own_cluster().await;
    let open = thinking(Isolation::ReadCommitted, 4, 0);
    let server = start_server_with(&options, open, |b| AppState::with_backend(b, 0)).await;
    let target = Target::parse(&server.handle.base_url()).unwrap();
    let mut config = HammerConfig::new(vec![target], MethodId::AtomicUpdate, 4000);
    config.concurrency = 8;
    config.timeout = Duration::from_secs(8);
    let control = Arc::new(Control::default());
    let run = tokio::spawn({
        let control = control.clone();
        async move { hammer::run(&config, control).await }
    });
    while control.completed() < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cluster.signal_all(libc::SIGKILL);
    assert_eq!(
        health(&server).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "503 while down"
    );
    let mut cluster = tokio::task::spawn_blocking(move || {
        cluster.restart().expect("restart");
        cluster
    })
    .await
    .unwrap();
    let run = run
        .await
        .unwrap()
        .expect("the run completes once the database is back");
    assert_invariant(
        run.acknowledged,
        run.unknown,
        run.change().expect("the counter was read"),
        "kill -9",
    );
    assert!(
        run.errors.keys().any(|k| k.starts_with("HTTP 503")),
        "{:?}",
        run.errors
    );
    assert!(run.acknowledged > 100);
    // Recovered by itself: new increments work without restarting the server.
    let (status, _) = server.increment(3).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_paused_requests_end_unknown_then_the_backlog_drains() {
    let _cpu = crate::support::busy().await;
    let (cluster, options) = own_cluster().await;
    let open = thinking(Isolation::ReadCommitted, 4, 0);
    let server = start_server_with(&options, open, |b| AppState::with_backend(b, 0)).await;
    assert_eq!(server.increment(3).await.0, StatusCode::OK);
    cluster.signal_all(libc::SIGSTOP);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let request = server
            .client
            .post(server.url("/api/v1/endpoint/counter/3/"))
            .timeout(Duration::from_secs(1));
        tasks.spawn(async move { request.send().await.map(|r| r.status()) });
    }
    let answers = tasks.join_all().await;
    let unknown = answers
        .iter()
        .filter(|a| a.as_ref().is_err_and(|e| e.is_timeout()))
        .count();
    assert_eq!(
        unknown, 20,
        "every request times out, none gets a wrong answer: {answers:?}"
    );
    cluster.signal_all(libc::SIGCONT);
    // The backlog drains: the server answers again and nothing is left open.
    assert_eq!(health(&server).await, StatusCode::OK);
    let idle = server
        .db
        .settle_idle_in_transaction(Duration::from_secs(10))
        .await;
    assert_eq!(idle.unwrap(), 0);
    let count = server.count(3).await.unwrap();
    assert_invariant(1, 20, count, "SIGSTOP");
    assert_eq!(server.increment(3).await.0, StatusCode::OK);
    server.stop().await;
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanishing_client_leaves_no_transaction_open() {
    let _cpu = crate::support::busy().await;
    let options = crate::support::fresh_database().await;
    let open = thinking(Isolation::RepeatableRead, 4, 500);
    let server = start_server_with(&options, open, |b| AppState::with_backend(b, 0)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let request = server
            .client
            .post(server.url("/api/v1/endpoint/counter/1/"))
            .timeout(Duration::from_millis(250));
        tasks.spawn(async move { request.send().await.map(|r| r.status()) });
    }
    for answer in tasks.join_all().await {
        assert!(
            answer.is_err_and(|e| e.is_timeout()),
            "the client gives up first"
        );
    }
    // Each transaction still ran to its end in its own task: committed, and its connection
    // back in the pool, not idle in transaction.
    let idle = server
        .db
        .settle_idle_in_transaction(Duration::from_secs(10))
        .await;
    assert_eq!(idle.unwrap(), 0);
    let mut count = None;
    for _ in 0..150 {
        count = server.count(1).await;
        if count == Some(6) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count, Some(6), "all 6 table-lock transactions completed");
    // Every connection is back (a dropped transaction's is flushed first, in the background).
    let mut idle = false;
    for _ in 0..100 {
        let (free, size) = server.backend.free_connections();
        idle = free == size as usize;
        if idle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (free, size) = server.backend.free_connections();
    assert!(idle, "connections free again: {free} of {size}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_gets_answers_or_503_never_a_hang() {
    let _cpu = crate::support::racing().await;
    // The server runs in this process: one open file per connection. 10,000 connections where
    // the hard limit allows them; otherwise as many as it does, and the test says so.
    let limit = crate::support::raise_open_file_limit();
    let connections = 10_000u64.min(limit.saturating_sub(1_024));
    assert!(
        connections >= 2_000,
        "open-file limit {limit} is too low for this test"
    );
    if connections < 10_000 {
        crate::support::note(&format!(
            "overload test: open-file limit {limit}, so {connections} connections, not 10,000"
        ));
    }
    let requests = connections.to_string();
    let options = crate::support::fresh_database().await;
    let open = thinking(Isolation::ReadCommitted, 4, 0);
    let server = start_server_with(&options, open, |b| {
        AppState::with_backend(b, 0).with_max_in_flight(64)
    })
    .await;
    let addr = server.handle.addr.to_string();
    let out = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::task::spawn_blocking(move || {
            crate::process::counter_command()
                .args(["hammer", "-d", &addr, "-n", "3", "--requests", &requests])
                .args([
                    "--concurrency",
                    &requests,
                    "--timeout",
                    "60",
                    "--format",
                    "json",
                ])
                .output()
                .unwrap()
        }),
    )
    .await
    .expect("no hang")
    .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let (ack, rejected, unknown) = (
        json["acknowledged"].as_u64().unwrap(),
        json["rejected"].as_u64().unwrap(),
        json["unknown"].as_u64().unwrap(),
    );
    assert_eq!(
        ack + rejected + unknown,
        connections,
        "every request got an end"
    );
    assert_eq!(
        unknown, 0,
        "shed requests are answered at once, not timed out: {json}"
    );
    assert!(ack > 0, "{json}");
    let outcome = json["outcome"].as_str().unwrap();
    // Shed requests never reached the database: no verdict on the method ("incomplete").
    assert!(outcome == "exact" || outcome == "incomplete", "{json}");
    for reason in json["errors"].as_object().unwrap().keys() {
        assert_eq!(reason, "overloaded", "{json}");
    }
    assert_eq!(server.count(3).await, Some(ack as i64));
    server.stop().await;
}

fn connections_of_two(options: &sqlx::postgres::PgConnectOptions) -> postgres::Connections {
    postgres::Connections::new(options.clone(), 2, Duration::from_secs(5))
}

async fn pid(lease: &mut postgres::connections::Lease) -> Result<i32, sqlx::Error> {
    let conn: &mut sqlx::PgConnection = lease;
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
}

/// The connections increments run on are taken back without a round trip; these are the two
/// cases where that would be wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_is_rolled_back_and_dead_connections_replaced() {
    let _cpu = crate::support::busy().await;
    use sqlx::Connection;
    let options = crate::support::fresh_database().await;
    let database = postgres::connect(&options, Isolation::ReadCommitted, 1)
        .await
        .unwrap();
    let connections = &database.connections;
    let first_pid = {
        let mut lease = connections.acquire().await.unwrap();
        let first_pid = pid(&mut lease).await.unwrap();
        let mut tx = lease.begin().await.unwrap();
        sqlx::query("INSERT INTO counter (id, count) VALUES (99, 1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        // Dropped mid-way, as a cancelled future would: its ROLLBACK is only queued.
        drop(tx);
        first_pid
    };
    let idle = database
        .settle_idle_in_transaction(Duration::from_secs(5))
        .await;
    assert_eq!(idle.unwrap(), 0, "the queued ROLLBACK was sent at once");
    let mut lease = connections.acquire().await.unwrap();
    assert_eq!(
        pid(&mut lease).await.unwrap(),
        first_pid,
        "the connection is reused"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM counter")
        .fetch_one(&mut *lease)
        .await
        .unwrap();
    assert_eq!(rows, 0, "the dropped transaction was rolled back");

    drop(lease);

    // The database ends every connection (as a restart would). The first request to meet one
    // fails with a 503-class error; that connection is dropped rather than lent again, and so
    // is the other idle one that shared its fate: the next lease connects afresh.
    let second = connections_of_two(&options);
    let mut pids = Vec::new();
    {
        let mut a = second.acquire().await.unwrap();
        let mut b = second.acquire().await.unwrap();
        pids.push(pid(&mut a).await.unwrap());
        pids.push(pid(&mut b).await.unwrap());
    }
    for &backend in &pids {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(backend)
            .execute(&database.pool)
            .await
            .unwrap();
    }
    let mut lease = second.acquire().await.unwrap();
    let failed = pid(&mut lease).await;
    assert!(failed.is_err());
    lease.check(failed.as_ref().unwrap_err());
    drop(lease);
    let mut lease = second.acquire().await.unwrap();
    let new_pid = pid(&mut lease)
        .await
        .expect("a fresh connection, not the other dead one");
    assert!(!pids.contains(&new_pid));
    drop(lease);
    assert_eq!(second.free(), 2);
    second.close().await;
    connections.close().await;
    assert!(matches!(
        connections.acquire().await,
        Err(sqlx::Error::PoolClosed)
    ));
}
