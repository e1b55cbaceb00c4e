//! A node that does not join the cluster in its time: the start fails with the end of that
//! node's log, and nothing of the cluster is left (no mariadbd, no directory).

use std::time::Duration;

use super::galera_installed;
use crate::process::{spawn_counter, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_join_in_time_fails_the_start_with_its_log_and_leaves_nothing() {
    if !galera_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    // A state transfer takes seconds here: one second is too short for the second node.
    let args = [
        "matrix",
        "-q",
        "--engine",
        "mariadb",
        "--topology",
        "galera",
        "--galera-join-timeout",
        "1",
        "--methods",
        "3",
        "--levels",
        "read-committed",
    ];
    let child = spawn_counter(&args);
    let ours = format!("counter-galera-{}-", child.id());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("galera node 2 did not accept connections within 1s"),
        "{stderr}"
    );
    // The node's own words: its log's last lines, where the state transfer was.
    assert!(stderr.contains("WSREP"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let left = || {
        let dirs = super::temp_dirs()
            .into_iter()
            .filter(|dir| dir.to_string_lossy().contains(&ours))
            .count();
        dirs + processes_mentioning(&ours)
    };
    assert!(
        wait_until(Duration::from_secs(10), || left() == 0),
        "{} directories and processes of {ours} left",
        left()
    );
}

/// The processes whose command line mentions `text` (a node's directory).
fn processes_mentioning(text: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(text))
        .count()
}
