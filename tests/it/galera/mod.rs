//! The multi-primary cluster (`--topology galera`): three real MariaDB Galera nodes started by
//! counter in a network namespace of their own (CI installs mariadb-server and galera-4).

use std::path::PathBuf;
use std::time::Duration;

use counter::engines::mariadb::galera::{LocalGalera, nodes};

use crate::mariadb::mariadb_installed;

mod existing;
mod join;
mod node_crash;

/// Whether the Galera tests can run; on CI they must (see [`crate::support::skipped`]).
fn galera_installed() -> bool {
    let found =
        mariadb_installed() && std::path::Path::new("/usr/lib/galera/libgalera_smm.so").is_file();
    if !found {
        crate::support::skipped(
            "the Galera tests",
            "galera-4 not installed (apt-get install -y mariadb-server galera-4 rsync; .ci/run does)",
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throwaway_galera_cluster_syncs_three_nodes_and_is_gone_afterwards() {
    if !galera_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let cluster = tokio::task::spawn_blocking(|| {
        LocalGalera::start(
            counter::engines::Durability::Durable,
            Duration::from_secs(60),
        )
    })
    .await
    .unwrap()
    .expect("the cluster starts");
    let options = cluster.connect_options("mysql");
    nodes::wait_synced(&options, Duration::from_secs(60))
        .await
        .expect("every node synced");
    eprintln!("started in {:?}", cluster.started_in);
    let dirs: Vec<std::path::PathBuf> = cluster.dirs().iter().map(|d| d.to_path_buf()).collect();
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
    for dir in dirs {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_galera_cluster_is_gone_after_sigkill_of_counter() {
    use crate::process::{process_exists, start_serve_process, wait_until};
    if !galera_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let mut serve = tokio::task::spawn_blocking(|| {
        start_serve_process(&["--engine", "mariadb", "--topology", "galera"])
    })
    .await
    .unwrap();
    // Spread: three increments, one on each node, all counted by the causal read.
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let response = client
            .post(format!(
                "{}{}",
                serve.base_url,
                counter::api::increment_path(3)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }
    let count: serde_json::Value = client
        .get(format!("{}{}", serve.base_url, counter::api::count_path(3)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 3, "{count}");
    // Named after the process that made them (other tests may run a cluster at once).
    let pid = format!("counter-galera-{}-", serve.child.id());
    let ours: Vec<PathBuf> = temp_dirs()
        .into_iter()
        .filter(|dir| dir.to_string_lossy().contains(&pid))
        .collect();
    let pids: Vec<i32> = ours
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("mysqld.pid")).ok())
        .filter_map(|text| text.trim().parse().ok())
        .collect();
    assert_eq!(ours.len(), 3, "three nodes: {ours:?}");
    assert_eq!(pids.len(), 3, "three mariadbd");
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(serve.child.id() as i32, libc::SIGKILL) };
    let _ = serve.child.wait();
    let gone = wait_until(Duration::from_secs(60), || {
        pids.iter().all(|&pid| !process_exists(pid)) && ours.iter().all(|dir| !dir.exists())
    });
    assert!(gone, "mariadbd {pids:?} and {ours:?} removed");
}

/// Everything in the temp folder.
fn temp_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    entries.flatten().map(|entry| entry.path()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_galera_with_another_engine_or_a_bad_setting_is_one_line_and_starts_nothing() {
    let url = "mysql://root@localhost/counter";
    for (args, said) in [
        (
            &["matrix", "--engine", "postgres", "--topology", "galera"][..],
            "--topology galera",
        ),
        (
            &["schedules", "--engine", "sqlite", "--topology", "galera"][..],
            "--topology galera",
        ),
        (
            &[
                "explain",
                "--engine",
                "postgres",
                "--topology",
                "galera",
                "--method",
                "2",
            ][..],
            "--topology galera",
        ),
        (
            &[
                "serve",
                "--engine",
                "mariadb",
                "--topology",
                "galera",
                "--database-url",
                url,
            ][..],
            "--topology galera",
        ),
        (
            &["schedules", "--engine", "mariadb", "--topology", "ha"][..],
            "--topology ha",
        ),
        (
            &[
                "matrix",
                "--engine",
                "mariadb",
                "--topology",
                "galera",
                "--fault",
                "manager-crash",
            ][..],
            "node-crash",
        ),
        (
            &["schedules", "--engine", "mariadb", "--galera-url", url][..],
            "at least two",
        ),
        (
            &["matrix", "--galera-url", "mysql://a/b,mysql://c/d"][..],
            "--engine mariadb",
        ),
        (
            &[
                "matrix",
                "--engine",
                "mariadb",
                "--engine-option",
                "wsrep_sync_wait=16",
            ][..],
            "wsrep_sync_wait",
        ),
        (
            &[
                "matrix",
                "--engine",
                "mariadb",
                "--engine-option",
                "wsrep_retry_autocommit=-1",
            ][..],
            "wsrep_retry_autocommit",
        ),
    ] {
        let out = crate::support::run_counter(args, &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
}

/// The arguments that start a throwaway cluster.
const THROWAWAY: &[&str] = &["--topology", "galera"];

/// `counter schedules` on the `cluster` its arguments name, each instance on a node of its
/// own; the cells of its JSON by method number.
async fn schedules_across_nodes(
    cluster: &[&str],
    methods: &str,
    extra: &[&str],
) -> Vec<serde_json::Value> {
    let dir = crate::support::TempDir::new(&format!("galera-{}", methods.replace(',', "-")));
    let json = dir.join("schedules.json");
    let json_arg = json.to_str().unwrap().to_string();
    let mut args = vec![
        "schedules",
        "--engine",
        "mariadb",
        "--levels",
        "read-committed",
        "--methods",
        methods,
        "--row",
        "exists",
        "--quiet",
        "--json",
        &json_arg,
    ];
    args.extend_from_slice(cluster);
    args.extend_from_slice(extra);
    let out = crate::support::run_counter(&args, &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{stderr}");
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    value["cells"].as_array().unwrap().clone()
}

fn cell(cells: &[serde_json::Value], method: u64) -> &serde_json::Value {
    cells
        .iter()
        .find(|cell| cell["method"] == method)
        .unwrap_or_else(|| panic!("method {method} explored: {cells:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_nodes_a_row_lock_is_refused_at_commit_with_its_code_the_same_every_time() {
    if !galera_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let first = schedules_across_nodes(THROWAWAY, "2", &[]).await;
    let second = schedules_across_nodes(THROWAWAY, "2", &[]).await;
    let (row_lock, again) = (cell(&first, 2), cell(&second, 2));
    // On one server SELECT ... FOR UPDATE makes the second wait: every schedule exact. Across
    // nodes nobody waits; the later committer's write set fails certification (or its lock
    // holder is aborted by the applier): refused, with MariaDB's own code.
    assert_eq!(row_lock["verdict"], "-", "{row_lock}");
    assert_eq!(row_lock["worst"], "refused", "{row_lock}");
    let refused = row_lock["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["class"] == "refused")
        .unwrap();
    assert!(
        refused.to_string().contains("ER_LOCK_DEADLOCK"),
        "the refusal carries its code: {refused}"
    );
    // And the transcript says what the nodes counted: which node, and which of the two.
    let said = refused.to_string();
    assert!(
        said.contains("failed certification") || said.contains("brute-force abort"),
        "the cluster's own account of the refusal: {refused}"
    );
    // Deterministic: the same schedules, the same classes.
    assert_eq!(row_lock["classes"], again["classes"], "{row_lock}\n{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_nodes_a_table_lock_and_a_named_lock_are_not_reported_exact() {
    if !galera_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let cells = schedules_across_nodes(THROWAWAY, "1,6", &[]).await;
    for method in [1, 6] {
        let cell = cell(&cells, method);
        let classes = cell["classes"].as_object().unwrap();
        let all_exact = classes
            .keys()
            .all(|class| class == "exact" || class == "exact_after_wait");
        // The verdict is "+" only if every schedule was exact and none was left out.
        assert_eq!(
            cell["verdict"] == "+",
            all_exact && cell["cut_by_stall"].is_null(),
            "{cell}"
        );
        assert_eq!(
            cell["verdict"], "-",
            "neither lock reaches across nodes: {cell}"
        );
    }
    // LOCK TABLES on two nodes: a node's applier waits behind the local table lock while
    // that lock's commit waits behind the applier; the cluster is restarted, the class says so.
    assert_eq!(cell(&cells, 1)["worst"], "stalled", "{}", cell(&cells, 1));
}
