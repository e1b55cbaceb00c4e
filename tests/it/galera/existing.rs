//! `--galera-url`: a cluster counter did not start (here one the test starts itself), given
//! by its nodes' URLs and explored across its nodes as the throwaway one is.

use std::time::Duration;

use counter::engines::mariadb::galera::{LocalGalera, nodes};

use super::{cell, galera_installed, schedules_across_nodes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_cluster_given_by_its_nodes_urls_is_explored_across_its_nodes() {
    if !galera_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let start = || {
        LocalGalera::start(
            counter::engines::Durability::Durable,
            Duration::from_secs(60),
        )
    };
    let cluster = tokio::task::spawn_blocking(start)
        .await
        .unwrap()
        .expect("the cluster starts");
    let admin = cluster.connect_options("mysql");
    nodes::wait_synced(&admin, Duration::from_secs(60))
        .await
        .expect("every node synced");
    counter::engines::mariadb::create_database(&admin[0])
        .await
        .expect("the counter database");
    // Root over each node's socket, as the test's own account (no password on a socket).
    let urls: Vec<String> = cluster
        .dirs()
        .iter()
        .map(|dir| {
            let socket = dir.join("mysqld.sock");
            format!("mysql://root@localhost/counter?socket={}", socket.display())
        })
        .collect();
    let nodes = urls.join(",");
    let cells = schedules_across_nodes(&["--galera-url", &nodes], "2", &[]).await;
    let row_lock = cell(&cells, 2);
    // As on the throwaway cluster: across nodes the later committer is refused, not made to
    // wait (on one server every schedule of method 2 is exact).
    assert_eq!(row_lock["worst"], "refused", "{row_lock}");
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}
