//! `matrix --topology galera --fault node-crash`: node 1's mariadbd killed mid-run, the
//! increments counted on the two nodes that survived, the node back before the end.

use super::galera_installed;
use crate::support::matrix_results;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_crash_loses_no_acknowledged_increment_as_the_surviving_nodes_count_them() {
    if !galera_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let (results, stdout) = matrix_results(&[
        "--engine",
        "mariadb",
        "--topology",
        "galera",
        "--placement",
        "spread",
        "--fault",
        "node-crash",
        "--methods",
        "3",
        "--levels",
        "read-committed",
    ])
    .await;
    let run = &results["runs"][0];
    let fault = &run["fault"];
    assert_eq!(fault["fault"], "node-crash", "{run}");
    assert_eq!(fault["replication"], "galera", "{run}");
    assert_eq!(fault["victim"], "node 1", "{run}");
    assert_eq!(fault["survivors"], 2, "the two others went on: {run}");
    assert!(fault["outage_s"].as_f64().is_some_and(|s| s > 0.0), "{run}");
    // A commit is acknowledged once certified by the whole cluster: the survivors have it.
    assert_eq!(fault["lost"], 0, "{run}");
    let number = |key: &str| run[key].as_u64().unwrap_or_else(|| panic!("{key}: {run}"));
    let (acknowledged, unknown) = (number("acknowledged"), number("unknown"));
    // The count is the survivors' (the server's reads went to the node that was killed), and
    // an increment of unknown fate is counted as neither lost nor applied.
    let kept = number("final_count") - number("before");
    assert!(
        (acknowledged..=acknowledged + unknown).contains(&kept),
        "{kept} kept, {acknowledged} acknowledged, {unknown} unknown: {run}"
    );
    // The run wrote: the count above is not an empty one.
    assert!(acknowledged > 100, "{run}");
    assert!(
        stdout.contains("hit node 1, the others synced as a cluster of 2"),
        "{stdout}"
    );
    assert_eq!(results["meta"]["settings"]["galera_placement"], "spread");
}
