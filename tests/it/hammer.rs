//! `counter hammer` against a real `counter serve`: verdicts, exit codes, the JSON shape.

use std::process::Output;
use std::sync::Arc;

use counter::hammer::{self, Control, HammerConfig, Target};
use counter::model::Isolation;
use counter::model::MethodId;
use counter::model::Outcome;

use crate::support::start_server;

async fn run_cli(args: Vec<String>) -> Output {
    crate::support::run_counter(args, &[]).await
}

fn config(base_url: String, method: MethodId) -> HammerConfig {
    let mut config = HammerConfig::new(vec![Target::parse(&base_url).unwrap()], method, 100);
    config.reset = true;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_update_at_read_committed_is_exact() {
    let _cpu = crate::support::racing().await;
    let server = start_server(Isolation::ReadCommitted, 10).await;
    let run = hammer::run(
        &config(server.handle.base_url(), MethodId::AtomicUpdate),
        Arc::new(Control::default()),
    )
    .await
    .unwrap();
    assert_eq!(run.outcome, Outcome::Exact, "{run:?}");
    assert_eq!((run.acknowledged, run.rejected, run.unknown), (100, 0, 0));
    assert_eq!((run.before, run.after), (0, Some(100)));
    assert_eq!(run.duplicate_writes, 0);
    assert_eq!(server.count(3).await, Some(100));
    let info = run.server.expect("a counter server describes itself");
    assert_eq!(info.effective_isolation, "read committed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_lock_at_repeatable_read_is_rejected_not_lost() {
    let _cpu = crate::support::racing().await;
    let server = start_server(Isolation::RepeatableRead, 10).await;
    let run = hammer::run(
        &config(server.handle.base_url(), MethodId::RowLock),
        Arc::new(Control::default()),
    )
    .await
    .unwrap();
    assert_eq!(run.outcome, Outcome::Rejected, "{run:?}");
    assert!(
        run.errors.get("40001").copied().unwrap_or(0) > 0,
        "{:?}",
        run.errors
    );
    assert_eq!(run.after, Some(run.acknowledged as i64));
    assert_eq!(run.acknowledged + run.rejected, 100);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exit_codes_and_json_shape() {
    let _cpu = crate::support::busy().await;
    let server = start_server(Isolation::ReadCommitted, 10).await;
    let addr = server.handle.addr.to_string();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["hammer".into(), "-d".into(), addr.clone()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // Exact: exit 0, JSON on stdout with the pinned keys.
    let out = run_cli(args(&["-n", "3", "--reset", "--format", "json"])).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "acknowledged",
            "before",
            "change",
            "completed",
            "concurrency",
            "duplicate_writes",
            "duration_ms",
            "effective_isolation",
            "engine",
            "errors",
            "final_count",
            "interrupted",
            "isolation",
            "isolation_scope",
            "latency",
            "method",
            "method_name",
            "outcome",
            "overlap",
            "peak_in_flight",
            "pool_size",
            "rejected",
            "replicas",
            "requests",
            "retry",
            "server_version",
            "settings",
            "think_ms",
            "throughput_rps",
            "trial",
            "unknown",
            "verdict",
        ]
    );
    assert_eq!(json["outcome"], "exact");
    assert_eq!(json["verdict"], "+");
    assert_eq!(json["final_count"], 100);
    for key in ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert!(json["latency"][key].is_number(), "latency.{key}");
    }
    // The CSV header is the results file's.
    let out = run_cli(args(&[
        "-n",
        "table-lock",
        "--requests",
        "20",
        "--format",
        "csv",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(0));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("engine,server_version,isolation,effective_isolation,method,"));
    assert_eq!(csv.lines().count(), 2);

    // Every bad flag or peer: exit 2 and one line on stderr.
    let dead_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let not_http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let not_http_addr = not_http.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut stream in not_http.incoming().take(4).flatten() {
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
        }
    });
    let dead = format!("127.0.0.1:{dead_port}");
    let cases: Vec<Vec<String>> = vec![
        args(&["-n", "3", "--requests", "0"]),
        args(&["-n", "3", "--concurrency", "0"]),
        args(&["-n", "3", "--timeout", "0"]),
        args(&["-n", "42"]),
        args(&["-n", "nope"]),
        args(&["-n", "3", "--requests", "-1"]),
        args(&["-n", "3", "--format", "xml"]),
        vec![
            "hammer".into(),
            "-d".into(),
            "no-such-host.invalid:8000".into(),
            "-n".into(),
            "3".into(),
        ],
        vec!["hammer".into(), "-d".into(), dead, "-n".into(), "3".into()],
        vec![
            "hammer".into(),
            "-d".into(),
            not_http_addr,
            "-n".into(),
            "3".into(),
        ],
        vec![
            "hammer".into(),
            "-d".into(),
            "https://127.0.0.1:1".into(),
            "-n".into(),
            "3".into(),
        ],
    ];
    for case in cases {
        let out = run_cli(case.clone()).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{case:?}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{case:?}: one line, got {stderr}"
        );
        assert!(stderr.starts_with("error: "), "{case:?}: {stderr}");
    }
    assert_eq!(server.count(3).await, Some(100), "bad runs sent nothing");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_that_cannot_be_written_stops_the_run_before_any_request() {
    let _cpu = crate::support::busy().await;
    let server = start_server(Isolation::ReadCommitted, 2).await;
    let addr = server.handle.addr.to_string();
    let out = run_cli(
        [
            "hammer",
            "-d",
            &addr,
            "-n",
            "3",
            "--output",
            "/nonexistent/x.json",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--output /nonexistent/x.json: cannot write there"),
        "{stderr}"
    );
    assert_eq!(server.count(3).await, None, "no request was sent");
    // matrix checks its files before it starts a database.
    let started = std::time::Instant::now();
    let out = run_cli(
        ["matrix", "--csv", "/nonexistent/x.csv"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--csv /nonexistent/x.csv"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_bounds_every_call_and_bad_targets_say_what_is_wrong() {
    let _cpu = crate::support::busy().await;
    // A port that accepts (the backlog does) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    let out = run_cli(
        ["hammer", "-d", &addr, "-n", "3", "--timeout", "2"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(6), "{waited:?}");
    drop(silent);
    let cases = [
        (
            vec!["-d", "127.0.0.1:8000", "--timeout", "0"],
            "must be more than 0",
        ),
        (vec!["-d", "127.0.0.1:99999"], "99999 is not a port"),
        (
            vec!["-d", "http://127.0.0.1:18600/api/v1/"],
            "without a path",
        ),
    ];
    for (args, words) in cases {
        let mut all = vec!["hammer".to_string(), "-n".into(), "3".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        let out = run_cli(all).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }
}
