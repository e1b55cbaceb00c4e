//! PgBouncer between the increments and PostgreSQL (CI installs pgbouncer): counter's runs
//! through it keep the original's answers in both pool modes, an application unaware of its
//! traps gets read committed and broken prepared statements, and an existing pooler is used
//! as its mode allows.

use std::collections::BTreeMap;

use counter::engines::pgbouncer::{self, LocalPgBouncer};
use counter::model::PoolMode;
use serde_json::Value;
use sqlx::ConnectOptions;

use crate::support::{TempDir, cluster_password, fresh_database, run_counter, url_of};

/// Whether the pooler tests can run; on CI they must (see [`crate::support::skipped`]).
fn pgbouncer_installed() -> bool {
    let found = pgbouncer::can_start();
    if !found {
        crate::support::skipped(
            "the pooler tests",
            "pgbouncer not installed (apt-get install -y pgbouncer; .ci/run does)",
        );
    }
    found
}

/// `counter matrix` with `args` and `--json`: the runs.
async fn matrix_runs(args: &[&str]) -> Vec<Value> {
    let dir = TempDir::new("poolers");
    let json = dir.join("results.json");
    let mut all = vec!["matrix", "-q", "--json", json.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run_counter(&all, &[]).await;
    // Exit 1: acknowledged increments were lost, which the unaware application's runs show.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {stderr}"
    );
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        results["meta"]["settings"]["pooler"]
            .as_str()
            .is_some_and(|p| p.contains("pooling")),
        "the results name the pooler: {}",
        results["meta"]
    );
    results["runs"].as_array().unwrap().clone()
}

/// (level, method) -> (outcome, effective level).
fn cells(runs: &[Value]) -> BTreeMap<(String, u64), (String, String)> {
    runs.iter()
        .map(|run| {
            let key = (
                run["isolation"].as_str().unwrap().to_string(),
                run["method"].as_u64().unwrap(),
            );
            let value = (
                run["outcome"].as_str().unwrap().to_string(),
                run["effective_isolation"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
            (key, value)
        })
        .collect()
}

/// The original's table: 1 exact everywhere, 2 and 3 exact at read committed and refused
/// above it.
fn original(level: &str, method: u64) -> &'static str {
    match (level, method) {
        (_, 1) | ("read committed", _) => "exact",
        _ => "rejected",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_the_matrix_keeps_the_original_table_in_both_pool_modes() {
    if !pgbouncer_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    for pooler in ["pgbouncer-transaction", "pgbouncer-session"] {
        let runs = matrix_runs(&[
            "--pooler",
            pooler,
            "--levels",
            "read-committed,repeatable-read,serializable",
        ])
        .await;
        let cells = cells(&runs);
        assert_eq!(cells.len(), 9, "{pooler}: {cells:?}");
        for ((level, method), (outcome, effective)) in &cells {
            assert_eq!(
                outcome,
                original(level, *method),
                "{pooler}: {level} x {method}"
            );
            assert_eq!(effective, level, "{pooler}: the level reached the database");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unaware_application_gets_read_committed_and_broken_prepared_statements() {
    if !pgbouncer_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let runs = matrix_runs(&[
        "--pooler",
        "pgbouncer-transaction",
        "--pooler-as-app",
        "--levels",
        "serializable",
        "--methods",
        "3",
        "--requests",
        "40",
    ])
    .await;
    let run = &runs[0];
    // Asked for serializable; the pooler dropped the startup parameter that carried it.
    assert_eq!(run["isolation"], "serializable");
    assert_eq!(run["effective_isolation"], "read committed", "{run}");
    // Two clients' `sqlx_s_1` met on one server connection: server errors, unknown fates.
    assert!(run["errors"]["HTTP 500"].as_u64().unwrap_or(0) > 0, "{run}");
}

/// A PgBouncer of the test's own in front of a fresh database of the shared cluster, and
/// that database's URL.
async fn own_pgbouncer(mode: PoolMode) -> (LocalPgBouncer, String, String) {
    let options = fresh_database().await;
    let database = options.get_database().unwrap().to_string();
    let (upstream, db) = (options.clone(), database.clone());
    let pooler = tokio::task::spawn_blocking(move || {
        LocalPgBouncer::start(&upstream, cluster_password(), &db, mode, 8, false)
    })
    .await
    .unwrap()
    .expect("pgbouncer starts");
    let pooler_url = format!(
        "postgres://postgres:{}@127.0.0.1:{}/{database}",
        cluster_password(),
        pooler.port()
    );
    (pooler, url_of(&options), pooler_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbouncer_refuses_the_level_in_the_startup_packet() {
    if !pgbouncer_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    let (pooler, _, pooler_url) = own_pgbouncer(PoolMode::Transaction).await;
    let options = counter::engines::postgres::parse_url(&pooler_url).unwrap();
    let refused = options
        .clone()
        .options([("default_transaction_isolation", "serializable")])
        .connect()
        .await
        .err()
        .map(|err| err.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("unsupported startup parameter"),
        "{refused}"
    );
    assert!(options.connect().await.is_ok(), "without it, it connects");
    let dir = pooler.dir().to_path_buf();
    drop(pooler);
    assert!(!dir.exists(), "the pooler's directory goes with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_pooler_is_used_as_its_mode_allows() {
    if !pgbouncer_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    // Session pooling: the level is set once per connection, and row lock at repeatable read
    // is refused as without a pooler.
    let (_session, url, pooler_url) = own_pgbouncer(PoolMode::Session).await;
    let args = [
        "--database-url",
        &url,
        "--pooler-url",
        &pooler_url,
        "--pooler-mode",
        "session",
        "--levels",
        "repeatable-read",
        "--methods",
        "2",
    ];
    let cells = cells(&matrix_runs(&args).await);
    let cell = ("repeatable read".to_string(), 2);
    assert_eq!(
        cells[&cell],
        ("rejected".to_string(), "repeatable read".to_string())
    );
    // Transaction pooling cannot carry a session-level setting: refused in one line, unless
    // the level goes with each transaction.
    let (_transaction, url, pooler_url) = own_pgbouncer(PoolMode::Transaction).await;
    let base = [
        "matrix",
        "-q",
        "--database-url",
        &url,
        "--pooler-url",
        &pooler_url,
        "--pooler-mode",
        "transaction",
        "--levels",
        "repeatable-read",
        "--methods",
        "2",
    ];
    let refused = run_counter(&base, &[]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--isolation-scope transaction"), "{stderr}");
    let mut scoped = base.to_vec();
    scoped.extend_from_slice(&["--isolation-scope", "transaction"]);
    let out = run_counter(&scoped, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throwaway_pgbouncer_is_gone_even_after_sigkill_of_counter() {
    if !pgbouncer_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    let mut serve = tokio::task::spawn_blocking(|| {
        crate::process::start_serve_process(&["--pooler", "pgbouncer-transaction"])
    })
    .await
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/endpoint/counter/3/", serve.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let printed = serve.output();
    let dir = printed
        .lines()
        .find_map(|line| line.split("directory ").nth(1))
        .and_then(|rest| rest.split(" (removed").next())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("serve names the pooler's directory: {printed}"));
    let pid: i32 = std::fs::read_to_string(dir.join("pgbouncer.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(crate::process::process_exists(pid));
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(serve.child.id() as i32, libc::SIGKILL) };
    let _ = serve.child.wait();
    let gone = crate::process::wait_until(std::time::Duration::from_secs(20), || {
        !crate::process::process_exists(pid) && !dir.exists()
    });
    assert!(gone, "pgbouncer {pid} and {} removed", dir.display());
}
