//! The multi-primary cluster (`--topology galera`): three real MariaDB Galera nodes started by
//! counter in a network namespace of their own (CI installs mariadb-server and galera-4).

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
