//! Every class honest: requests that never reached the database never make a cell "-", and a
//! client waits as long as the server may take to answer (else a refusal it was about to
//! send would be counted unknown).

use std::sync::Arc;
use std::time::Duration;

use counter::hammer::{self, Control, HammerConfig, Target};
use counter::model::{MethodId, Outcome, Verdict};

use crate::support::{TempDir, run_counter};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_sheds_nothing_of_its_own_load_and_never_blames_the_method_for_it() {
    let _cpu = crate::support::racing().await;
    let dir = TempDir::new("honest-shed");
    let json = dir.join("out.json");
    // More in flight than a server takes by default (1,024): once, 433 were shed and the
    // cell said "-" with exit code 0.
    let out = run_counter(
        &[
            "matrix",
            "-q",
            "--engine",
            "sqlite",
            "--methods",
            "3",
            "--requests",
            "1500",
            "--concurrency",
            "1500",
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let run = &results["runs"][0];
    let errors = &run["errors"];
    assert!(errors.get("overloaded").is_none(), "{run}");
    // What remains that never reached the database (no connection free in time) is no
    // verdict on the method: "!", exit 1, never "-".
    let unsent = errors
        .as_object()
        .is_some_and(|errors| errors.contains_key("database_unavailable"));
    match unsent {
        true => {
            assert_eq!(run["outcome"], "incomplete", "{run}");
            assert_eq!(run["verdict"], "!", "{run}");
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains("NO VERDICT"), "{stderr}");
        }
        false => assert_eq!(run["outcome"], "exact", "{run}\n{stderr}"),
    }
}

#[test]
fn requests_that_never_reached_the_database_are_no_verdict() {
    use counter::model::outcome::Ends;
    // 1,067 acknowledged, 433 shed: F == acknowledged, nothing lost, no verdict.
    let ends = Ends {
        requests: 1500,
        acknowledged: 1067,
        rejected: 433,
        not_started: 433,
        unknown: 0,
        change: 1067,
    };
    assert_eq!(Outcome::classify(ends), Outcome::Incomplete);
    assert_eq!(
        Verdict::judge(Outcome::Incomplete, None),
        Verdict::NoVerdict
    );
    // A loss is a loss whatever else happened.
    let lost = Ends {
        change: 1000,
        ..ends
    };
    assert_eq!(Outcome::classify(lost), Outcome::Lost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hammer_waits_as_long_as_the_server_may_take_to_answer() {
    let _cpu = crate::support::busy().await;
    // The statement is cancelled at the server's 10 s statement timeout, which is also the
    // hammer's own default timeout: once, the 409 came 3 ms after the client gave up, and a
    // refusal was counted unknown.
    let script =
        counter::methods::script::Script::parse("sleep.sql", "SELECT pg_sleep(20);\n").unwrap();
    let mut open = counter::engines::OpenOptions::new(counter::model::Isolation::ReadCommitted, 2);
    open.script = Some(Arc::new(script));
    open.statement_timeout = Some(Duration::from_secs(10));
    let server = crate::support::start_server_with(
        &crate::support::fresh_database().await,
        open,
        |backend| counter::server::AppState::with_backend(backend, 0),
    )
    .await;
    let target = Target::parse(&server.handle.base_url()).unwrap();
    let mut config = HammerConfig::new(vec![target], MethodId::Custom, 1);
    // As `counter hammer` without --timeout: 10 s, or what the server says it may take.
    config.timeout = Duration::from_secs(10);
    config.follow_server_deadline = true;
    let run = hammer::run(&config, Arc::new(Control::default()))
        .await
        .unwrap();
    assert_eq!((run.rejected, run.unknown), (1, 0), "{:?}", run.errors);
    assert!(run.errors.contains_key("57014"), "{:?}", run.errors);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_cut_by_the_cap_is_not_proven_in_every_table_and_export() {
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("honest-capped");
    let (csv, json) = (dir.join("cells.csv"), dir.join("cells.json"));
    let out = run_counter(
        &[
            "schedules",
            "--methods",
            "3",
            "--levels",
            "read-committed",
            "--max-schedules",
            "2",
            "--csv",
            csv.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Method 3 is exact in every schedule, but two schedules of each cell are no proof.
    assert!(stdout.contains("│ read committed     ┆ ~"), "{stdout}");
    assert!(!stdout.contains("┆ +"), "{stdout}");
    assert!(stdout.contains("~ not proven"), "{stdout}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cells = results["cells"].as_array().unwrap();
    assert!(cells.iter().all(|cell| cell["verdict"] == "~"), "{results}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut rows = ::csv::Reader::from_reader(csv.as_bytes());
    let verdict = rows
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "verdict")
        .unwrap();
    for row in rows.records() {
        assert_eq!(&row.unwrap()[verdict], "~", "{csv}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_the_explorer_cancelled_is_a_timeout_never_a_refusal() {
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("honest-stuck");
    let path = dir.join("sleep.sql");
    std::fs::write(&path, "SELECT pg_sleep(60);\n").unwrap();
    let out = run_counter(
        &[
            "explain",
            "-n",
            "custom",
            "--method-file",
            path.to_str().unwrap(),
            "--isolation",
            "read-committed",
            "--lock-timeout",
            "1",
        ],
        &[],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Once: "refused 57014 ... a retry would succeed", for a cancel the explorer sent.
    assert!(stdout.contains("- timeout"), "{stdout}");
    assert!(
        stdout.contains("stopped by the explorer: no progress"),
        "{stdout}"
    );
    assert!(
        stdout.contains("T1: running SELECT pg_sleep(60)"),
        "{stdout}"
    );
    assert!(!stdout.contains("refused"), "{stdout}");
    assert!(!stdout.contains("retry would succeed"), "{stdout}");
}

/// Sends `raw` to the server and returns the status line and the headers.
async fn raw_exchange(base_url: &str, raw: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_by_the_rfc_host_headers_segments_and_options() {
    let _cpu = crate::support::busy().await;
    let server = crate::support::start_server(counter::model::Isolation::ReadCommitted, 2).await;
    let base = server.handle.base_url();
    let post = |host: &str| {
        format!(
            "POST /api/v1/endpoint/counter/3/ HTTP/1.1\r\n{host}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
    };
    // RFC 9112 3.2: an HTTP/1.1 request without a Host, or with two, is a 400; once, 200.
    for host in ["", "Host: a\r\nHost: b\r\n"] {
        let answer = raw_exchange(&base, &post(host)).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{host:?}: {answer}");
        assert!(answer.contains("invalid_host"), "{answer}");
    }
    assert_eq!(server.count(3).await, None, "nothing was incremented");
    let answer = raw_exchange(&base, &post("Host: localhost\r\n")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // HTTP/1.0 has no Host requirement.
    let answer = raw_exchange(&base, "GET /health HTTP/1.0\r\nConnection: close\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    // One rule for method and id segments: no trimming (`3%20` was method 3).
    for path in ["3%20", "%203", "3%09"] {
        let (status, body) = server
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/endpoint/counter/{path}/"),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{path}: {body}");
        let (status, body) = server
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/endpoint/count/{path}/"),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{path}: {body}");
    }
    assert_eq!(server.count(3).await, Some(1));
    // OPTIONS the same on every path.
    for (path, allow) in [
        ("/api/v1/endpoint/counter/3/", "GET, POST, OPTIONS"),
        ("/api/v1/endpoint/count/", "GET, DELETE, OPTIONS"),
        ("/api/v1/endpoint/count/3", "GET, DELETE, OPTIONS"),
        ("/api/v1/info", "GET, OPTIONS"),
        ("/health", "GET, OPTIONS"),
        ("/", "GET, OPTIONS"),
    ] {
        let response = server
            .client
            .request(reqwest::Method::OPTIONS, server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
        assert_eq!(response.headers()["allow"], allow, "{path}");
    }
    assert_eq!(server.count(3).await, Some(1), "OPTIONS changes nothing");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlites_terminal_scripts_are_in_sqlites_words() {
    let _cpu = crate::support::busy().await;
    let out = run_counter(
        &[
            "explain",
            "--engine",
            "sqlite",
            "-n",
            "4",
            "--isolation",
            "serializable",
            "--psql",
        ],
        &[],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("paste into sqlite3 window"), "{stdout}");
    // Once each window began with PostgreSQL's SET default_transaction_isolation.
    assert!(
        !stdout.contains("default_transaction_isolation"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadbs_named_lock_waits_as_long_as_the_lock_timeout_says() {
    if !crate::mariadb::mariadb_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    let out = run_counter(
        &[
            "explain",
            "--engine",
            "mariadb",
            "-n",
            "6",
            "--isolation",
            "read-committed",
            "--lock-timeout",
            "2",
        ],
        &[],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Once a fixed 10 s, whatever --lock-timeout said.
    assert!(
        stdout.contains("GET_LOCK(CONCAT('counter:', 6), 2)"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_matrix_keeps_the_cells_that_ran() {
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("honest-ctrl-c");
    let (csv, json) = (dir.join("cells.csv"), dir.join("cells.json"));
    // Sequential requests with think time: a cell takes about a second.
    let mut args: Vec<std::ffi::OsString> = [
        "matrix",
        "-q",
        "--engine",
        "sqlite",
        "--methods",
        "4",
        "--trials",
        "40",
        "--requests",
        "20",
        "--concurrency",
        "1",
        "--think-ms",
        "50",
        "--csv",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.extend([csv.clone().into(), "--json".into(), json.clone().into()]);
    let out = interrupted_after(args, Duration::from_secs(4)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stdout.contains("INTERRUPTED by Ctrl-C"), "{stdout}");
    assert!(stderr.contains("INTERRUPTED:"), "{stderr}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results["meta"]["interrupted"], true);
    let ran = results["runs"].as_array().unwrap().len();
    assert!((1..160).contains(&ran), "{ran} runs");
    let rows = ::csv::Reader::from_path(&csv).unwrap().records().count();
    assert_eq!(rows, ran, "the CSV holds the same cells");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_schedules_keeps_the_cells_explored_and_prints_before_it_writes() {
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("honest-ctrl-c-schedules");
    let json = dir.join("cells.json");
    let args = ["schedules", "--methods", "1,2,3,4,5,6,7", "--json"]
        .iter()
        .map(Into::into)
        .chain([json.clone().into()])
        .collect();
    let out = interrupted_after(args, Duration::from_secs(6)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stdout.contains("INTERRUPTED by Ctrl-C"), "{stdout}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results["meta"]["interrupted"], true, "{results}");
    assert!(!results["cells"].as_array().unwrap().is_empty(), "{stderr}");
}

/// Runs counter with `args` and sends it SIGINT (Ctrl-C) after `after`: what it printed and
/// how it ended.
async fn interrupted_after(args: Vec<std::ffi::OsString>, after: Duration) -> std::process::Output {
    let child = crate::process::counter_command()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(after).await;
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

/// The throwaway directories of process `pid` in the temporary folder.
fn throwaway_dirs_of(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("counter-pg-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_the_cluster_is_made_leaves_no_directory() {
    let _cpu = crate::support::busy().await;
    // Once, kill -9 during initdb left the cluster's directory and its password file.
    for delay_ms in [100, 300, 700] {
        let mut child = crate::process::counter_command()
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = child.kill();
        let _ = child.wait();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !throwaway_dirs_of(pid).is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            throwaway_dirs_of(pid),
            Vec::<std::path::PathBuf>::new(),
            "killed after {delay_ms} ms"
        );
    }
}
