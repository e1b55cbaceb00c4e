//! Methods 4-8, retries and replicas: what each must show under real contention.

use std::sync::Arc;

use counter::hammer::{self, Control, HammerConfig, HammerRun, Target};
use counter::model::Isolation;
use counter::model::MethodId;
use counter::model::{Outcome, Verdict};

use counter::server::AppState;

use crate::support::{
    TestServer, fresh_database, start_server, start_server_on, start_server_with, thinking,
};

async fn hammer(servers: &[&TestServer], method: MethodId) -> HammerRun {
    let targets = servers
        .iter()
        .map(|s| Target::parse(&s.handle.base_url()).unwrap())
        .collect();
    let mut config = HammerConfig::new(targets, method, 100);
    config.reset = true;
    hammer::run(&config, Arc::new(Control::default()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_modify_write_at_read_committed_loses_updates() {
    let _cpu = crate::support::racing().await;
    let server = start_server(Isolation::ReadCommitted, 10).await;
    let run = hammer(&[&server], MethodId::ReadModifyWrite).await;
    assert_eq!(
        run.outcome,
        Outcome::Lost,
        "the harness must create real overlap: {run:?}"
    );
    assert_eq!(run.acknowledged, 100);
    assert!(
        run.duplicate_writes > 0,
        "lost updates are also seen directly"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_and_compare_and_swap_at_read_committed_are_exact() {
    let _cpu = crate::support::racing().await;
    let server = start_server(Isolation::ReadCommitted, 10).await;
    for method in [
        MethodId::Upsert,
        MethodId::CompareAndSwap,
        MethodId::AdvisoryLock,
    ] {
        let run = hammer(&[&server], method).await;
        // "+": exact, and the requests raced (not merely followed one another).
        assert_eq!(run.verdict, Verdict::Exact, "{method}: {run:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_lock_is_exact_with_one_server_and_not_with_two() {
    let _cpu = crate::support::racing().await;
    let options = fresh_database().await;
    // 20 ms between read and write: a transaction of the other server reads inside that
    // window for certain, instead of when the scheduler happens to allow it.
    let think = || thinking(Isolation::ReadCommitted, 10, 20);
    let state = |backend| AppState::with_backend(backend, 0);
    let first = start_server_with(&options, think(), state).await;
    let run = hammer(&[&first], MethodId::InProcessLock).await;
    assert_eq!(run.verdict, Verdict::Exact, "one replica, raced: {run:?}");
    let second = start_server_with(&options, think(), state).await;
    let run = hammer(&[&first, &second], MethodId::InProcessLock).await;
    assert_eq!(run.replicas, 2);
    assert_eq!(
        run.outcome,
        Outcome::Lost,
        "two replicas, two mutexes: {run:?}"
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_turns_row_lock_at_repeatable_read_exact() {
    let _cpu = crate::support::racing().await;
    let options = fresh_database().await;
    let server = start_server_on(&options, Isolation::RepeatableRead, 10, 10).await;
    let run = hammer(&[&server], MethodId::RowLock).await;
    assert_eq!(
        run.verdict,
        Verdict::Exact,
        "raced, refused and retried: {run:?}"
    );
    let (status, body) = server.increment(2).await;
    assert!(status.is_success());
    assert!(body["attempts"].as_u64().unwrap() >= 1);
    let (_, info) = server.call(reqwest::Method::GET, "/api/v1/info").await;
    assert_eq!(info["retry"], 10);
    server.stop().await;
}
