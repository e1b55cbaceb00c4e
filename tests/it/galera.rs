//! The multi-primary cluster (`--topology galera`): three real MariaDB Galera nodes started by
//! counter in a network namespace of their own (CI installs mariadb-server and galera-4).

use std::path::PathBuf;
use std::time::Duration;

use counter::engines::mariadb::galera::{LocalGalera, nodes};

use crate::mariadb::mariadb_installed;

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
    let _cpu = crate::support::busy().await;
    let cluster =
        tokio::task::spawn_blocking(|| LocalGalera::start(counter::engines::Durability::Durable))
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
    let _cpu = crate::support::busy().await;
    let mut serve = tokio::task::spawn_blocking(|| {
        start_serve_process(&["--engine", "mariadb", "--topology", "galera"])
    })
    .await
    .unwrap();
    // Spread: three increments, one on each node, all counted by the causal read.
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let response = client
            .post(format!("{}/api/v1/endpoint/counter/3/", serve.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }
    let count: serde_json::Value = client
        .get(format!("{}/api/v1/counter/3/", serve.base_url))
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
async fn topology_galera_with_another_engine_is_one_line_and_starts_nothing() {
    for args in [
        &["matrix", "--engine", "postgres", "--topology", "galera"][..],
        &["schedules", "--engine", "sqlite", "--topology", "galera"][..],
        &[
            "serve",
            "--engine",
            "mariadb",
            "--topology",
            "galera",
            "--database-url",
            "mysql://root@localhost/counter",
        ][..],
    ] {
        let out = crate::support::run_counter(args, &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("--topology galera"), "{args:?}: {stderr}");
    }
}
