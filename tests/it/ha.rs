//! The replicated topology (CI installs etcd-server, patroni, python3-etcd): a failover in the
//! middle of a run, and the whole cluster gone after `kill -9` of counter.

use std::path::PathBuf;
use std::time::Duration;

use crate::process::{process_exists, start_serve_process, wait_until};

/// Whether the replicated cluster can be started here; on CI it must.
fn patroni_installed() -> bool {
    let found = ["/usr/bin/patroni", "/usr/bin/etcd"]
        .iter()
        .all(|path| std::path::Path::new(path).is_file());
    if !found {
        crate::support::skipped(
            "the replicated-topology tests",
            "etcd and Patroni not installed (apt-get install -y etcd-server patroni python3-etcd; .ci/run does)",
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_crash_with_sync_replication_loses_nothing_and_a_standby_takes_over() {
    if !patroni_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let (results, _) = crate::support::matrix_results(&[
        "--topology",
        "ha",
        "--replication",
        "sync",
        "--fault",
        "node-crash",
        "--methods",
        "3",
        "--levels",
        "read-committed",
        "--requests",
        "2000",
    ])
    .await;
    let run = &results["runs"][0];
    let fault = &run["fault"];
    assert_eq!(fault["fault"], "node-crash", "{run}");
    assert_eq!(
        fault["lost"], 0,
        "sync replication keeps every acknowledged write: {run}"
    );
    assert_ne!(
        fault["primary_after"], fault["victim"],
        "a standby took over: {run}"
    );
    let (before, after) = (
        fault["timeline_before"].as_u64(),
        fault["timeline_after"].as_u64(),
    );
    assert!(before.is_some() && after > before, "a new timeline: {run}");
    assert!(fault["outage_s"].as_f64().is_some_and(|s| s > 0.0), "{run}");
    // Requests went on after the failover: more were acknowledged than before the fault.
    assert!(run["acknowledged"].as_u64().unwrap() > 1000, "{run}");
    let settings = &results["meta"]["settings"]["topology"];
    assert!(
        settings
            .as_str()
            .is_some_and(|t| t.contains("sync replication")),
        "{settings}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replicated_cluster_is_gone_after_sigkill_of_counter() {
    if !patroni_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    let mut serve = tokio::task::spawn_blocking(|| start_serve_process(&["--topology", "ha"]))
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/endpoint/counter/3/", serve.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    // Named after the process that made them: the serve process's own (other tests may run
    // a cluster at the same time).
    let pid = format!("-{}-", serve.child.id());
    let ours: Vec<PathBuf> = counter_dirs()
        .into_iter()
        .filter(|dir| dir.to_string_lossy().contains(&pid))
        .collect();
    let pids: Vec<i32> = ours
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("data/postmaster.pid")).ok())
        .filter_map(|text| text.lines().next()?.trim().parse().ok())
        .collect();
    assert_eq!(ours.len(), 3, "etcd and two nodes: {ours:?}");
    assert_eq!(pids.len(), 2, "two postmasters");
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(serve.child.id() as i32, libc::SIGKILL) };
    let _ = serve.child.wait();
    let gone = wait_until(Duration::from_secs(60), || {
        pids.iter().all(|&pid| !process_exists(pid)) && ours.iter().all(|dir| !dir.exists())
    });
    assert!(gone, "postmasters {pids:?} and {ours:?} removed");
}

/// The temp folder's directories of etcd and Patroni nodes.
fn counter_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("counter-etcd-") || name.starts_with("counter-patroni")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_follows_an_existing_patroni_cluster_through_a_failover() {
    if !patroni_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    use counter::engines::ha::LocalHaCluster;
    use counter::engines::{Durability, postgres};
    use counter::model::{Fault, Replication};
    // A cluster counter did not start for this run: the test's own.
    let mut cluster = tokio::task::spawn_blocking(|| {
        LocalHaCluster::start(Replication::Sync, Durability::Durable)
    })
    .await
    .unwrap()
    .expect("a replicated cluster starts");
    postgres::create_database(&cluster.connect_options("postgres"), "counter")
        .await
        .unwrap();
    let view = cluster.view();
    let primary = cluster.primary().unwrap();
    let url = format!(
        "postgres://postgres:{}@127.0.0.1:{}/counter",
        cluster.password(),
        view.nodes[primary].pg_port
    );
    let rest = format!("http://127.0.0.1:{}", view.nodes[1 - primary].rest_port);
    let mut serve = tokio::task::spawn_blocking(move || {
        start_serve_process(&["--database-url", &url, "--patroni-url", &rest])
    })
    .await
    .unwrap();
    let base = serve.base_url.clone();
    let client = reqwest::Client::new();
    let increment = || {
        client
            .post(format!("{base}/api/v1/endpoint/counter/3/"))
            .timeout(Duration::from_secs(10))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(increment().await.unwrap().status(), reqwest::StatusCode::OK);
    }
    let victim = tokio::task::block_in_place(|| cluster.inject(Fault::NodeCrash)).unwrap();
    // Through the failover: answers are 503 until the standby is promoted, then 200 again.
    let mut acknowledged_after = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged_after < 5 && std::time::Instant::now() < deadline {
        match increment().await {
            Ok(answer) if answer.status() == reqwest::StatusCode::OK => acknowledged_after += 1,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let now = tokio::task::block_in_place(|| cluster.primary());
    assert_eq!(
        acknowledged_after,
        5,
        "writes go on on the new primary ({now:?}, {victim} was hit): {}",
        serve
            .output()
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(now.is_some_and(|p| p != victim), "another node is primary");
    // The API's read comes from the new primary: all ten, synchronous replication kept them.
    let count = crate::support::get_json(&format!("{base}/api/v1/endpoint/count/3/")).await;
    assert!(count["count"].as_i64().is_some_and(|c| c >= 10), "{count}");
    tokio::task::spawn_blocking(move || {
        serve.stop();
        drop(cluster);
    })
    .await
    .unwrap();
}
