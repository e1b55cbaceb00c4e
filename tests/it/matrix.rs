//! `counter matrix`: a real run over a subset, its CSV, and its bad options.

use counter::report::csv::columns;

async fn run_cli(args: &[&str]) -> std::process::Output {
    crate::support::run_counter(args, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subset_matrix_writes_a_csv_whose_verdicts_follow_the_outcomes() {
    let _cpu = crate::support::racing().await;
    let dir = crate::support::TempDir::new("matrix-test");
    let csv_path = dir.join("results.csv");
    let json_path = dir.join("results.json");
    let html_path = dir.join("report.html");
    let svg_path = dir.join("table.svg");
    let out = run_cli(&[
        "matrix",
        "--levels",
        "read-committed,repeatable-read",
        "--methods",
        "2,atomic-update",
        "--trials",
        "2",
        "--csv",
        csv_path.to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
        "--markdown",
        "--html",
        html_path.to_str().unwrap(),
        "--svg",
        svg_path.to_str().unwrap(),
    ])
    .await;
    let stdout = crate::support::stdout_of_success(&out);

    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let columns = columns();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        columns
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), 2 * 2 * 2, "levels x methods x trials");
    let col = |name: &str| columns.iter().position(|c| c == name).unwrap();
    for row in &rows {
        assert_eq!(row.len(), columns.len(), "{row:?}");
        let (verdict, outcome) = (row[col("verdict")].as_str(), row[col("outcome")].as_str());
        assert_eq!(verdict == "+", outcome == "exact", "{row:?}");
        let requests: i64 = row[col("requests")].parse().unwrap();
        let final_count: i64 = row[col("final_count")].parse().unwrap();
        let acknowledged: i64 = row[col("acknowledged")].parse().unwrap();
        assert_eq!(requests, 100);
        assert_eq!(
            final_count, acknowledged,
            "reset before each run; nothing lost: {row:?}"
        );
        let expected_exact = row[col("isolation")] == "read committed";
        assert_eq!(
            outcome == "exact",
            expected_exact,
            "the original's table: {row:?}"
        );
        if !expected_exact {
            assert_eq!(outcome, "rejected", "{row:?}");
            assert!(row[col("errors")].contains("40001="), "{row:?}");
        }
        assert_eq!(row[col("effective_isolation")], row[col("isolation")]);
        // The throwaway cluster is durable, and every cell says how much its requests raced.
        assert!(row[col("settings")].contains("fsync=on"), "{row:?}");
        let overlap: f64 = row[col("overlap")].parse().unwrap();
        let peak: u64 = row[col("peak_in_flight")].parse().unwrap();
        if verdict == "+" {
            assert!(overlap >= 0.10 && peak >= 2, "a + that raced: {row:?}");
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 8);
    assert_eq!(json["meta"]["trials"], 2);
    assert_eq!(json["meta"]["settings"]["fsync"], "on");
    assert_eq!(json["meta"]["settings"]["synchronous_commit"], "on");
    // Markdown table in the original's layout.
    assert!(
        stdout.contains("| isolation \\ method | 2. row lock | 3. database level |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| read committed     | + 2/2       | + 2/2             |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| repeatable read    | - 0/2       | - 0/2             |"),
        "{stdout}"
    );
    // The pictures: self-contained (no scripts, no external resources), coloured by outcome.
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg") && html.contains("Throughput per cell"));
    assert!(
        html.contains("The cost of correctness"),
        "throughput against outcome"
    );
    assert!(
        !html.contains("<script") && !html.contains("https://"),
        "self-contained"
    );
    assert!(html.contains("class=\"exact\"") && html.contains("class=\"rejected\""));
    assert!(html.contains("40001="), "errors per cell");
    let cost = std::fs::read_to_string(svg_path.with_extension("cost.svg")).unwrap();
    assert!(cost.starts_with("<svg") && cost.contains("req/s"), "{cost}");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    assert!(
        svg.contains("#c8e6c9") && svg.contains("#ffe0b2"),
        "exact and rejected colours"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_matrix_options_exit_2_with_one_line() {
    let _cpu = crate::support::busy().await;
    for args in [
        &["matrix", "--levels", "snapshot"][..],
        &["matrix", "--methods", "12"][..],
        &["matrix", "--methods", "13"][..],
        &["matrix", "--methods", "row-locks"][..],
        &["matrix", "--trials", "0"][..],
        &["matrix", "--requests", "0"][..],
        &["matrix", "--concurrency", "0"][..],
        &["matrix", "--pool-size", "0"][..],
        &["matrix", "--engine-option", "innodb_snapshot_isolation=on"][..],
        &["matrix", "--engine-option", "fsync=off"][..],
        &["matrix", "--isolation-scope", "global"][..],
        &["matrix", "--pooler", "pgbouncer-statement"][..],
        &[
            "matrix",
            "--pooler",
            "pgbouncer-session",
            "--engine",
            "mariadb",
        ][..],
        &[
            "matrix",
            "--pooler-url",
            "postgres://u@127.0.0.1:1/x",
            "--pooler-mode",
            "session",
        ][..],
        &["matrix", "--pooler-mode", "transaction"][..],
        &["matrix", "--patroni-url", "http://127.0.0.1:1"][..],
        &["matrix", "--topology", "ha", "--engine", "mariadb"][..],
        &["matrix", "--fault", "node-crash"][..],
        &["matrix", "--levels", "snapshot isolation"][..],
        &[
            "matrix",
            "--no-fsync",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/x",
        ][..],
    ] {
        let out = run_cli(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// A role allowed `limit` connections, owning a fresh database: where one replica's
/// connections fit and two replicas' do not.
async fn limited_database(limit: u32) -> (sqlx::postgres::PgConnectOptions, String) {
    let options = crate::support::fresh_database().await;
    let database = options.get_database().unwrap().to_string();
    let role = format!("r_{database}");
    let password = "limited-test-role";
    let mut admin = sqlx::ConnectOptions::connect(&options).await.unwrap();
    for sql in [
        format!("CREATE ROLE {role} LOGIN PASSWORD '{password}' CONNECTION LIMIT {limit}"),
        format!("ALTER DATABASE {database} OWNER TO {role}"),
        format!("ALTER SCHEMA public OWNER TO {role}"),
    ] {
        sqlx::Executor::execute(&mut admin, sqlx::AssertSqlSafe(sql))
            .await
            .unwrap();
    }
    (options.username(&role).password(password), role)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_that_fails_part_way_stops_every_server_it_started() {
    let _cpu = crate::support::busy().await;
    // One replica takes at most 2 + 5 connections; the second cannot get its 5 more.
    let (options, role) = limited_database(8).await;
    let config = counter::matrix::MatrixConfig {
        levels: vec![counter::model::Isolation::ReadCommitted],
        methods: vec![counter::model::MethodId::AtomicUpdate],
        requests: 10,
        concurrency: 10,
        pool_size: 5,
        trials: 1,
        replicas: 2,
        retry: 0,
        think_ms: 0,
        scope: counter::model::IsolationScope::Session,
        durability: counter::engines::Durability::Durable,
        engine_options: Vec::new(),
        shards: counter::methods::DEFAULT_SHARDS,
        statement_timeout: None,
        script: None,
        fault: None,
        script_may_be_refused: false,
        engine: counter::model::Engine::Postgres,
    };
    let location = crate::support::location_of(&options);
    let failed = counter::matrix::run(&config, &location, None, |_| {}, &Default::default()).await;
    let err = failed.expect_err("the second replica cannot connect");
    // (Too many connections is retried until the acquire timeout: it reads "timed out".)
    assert!(err.to_string().contains("could not connect"), "{err}");
    // Nothing of the first replica is left: its server stopped, its connections closed.
    let watcher = crate::support::fresh_database().await;
    let mut watcher = sqlx::ConnectOptions::connect(&watcher).await.unwrap();
    let mut left = -1i64;
    for _ in 0..50 {
        left = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = $1")
            .bind(&role)
            .fetch_one(&mut watcher)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "connections of the first replica still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_schedules_shows_both_verdicts_in_the_table_and_the_csv() {
    let _cpu = crate::support::racing().await;
    let dir = crate::support::TempDir::new("matrix-schedules");
    let csv = dir.join("cells.csv");
    let args = [
        "matrix",
        "--schedules",
        "--quiet",
        "--levels",
        "read-committed,repeatable-read",
        "--methods",
        "1,4",
        "--csv",
        csv.to_str().unwrap(),
    ];
    let out = crate::support::run_counter(args, &[]).await;
    // Method 4 loses updates at read committed: exit 1, as for the matrix alone.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("race / schedules"), "{stdout}");
    assert!(stdout.contains("- / - lost"), "{stdout}");
    assert!(stdout.contains("- / - refused"), "{stdout}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let verdict = header
        .iter()
        .position(|c| *c == "schedule_verdict")
        .unwrap();
    let worst = header.iter().position(|c| *c == "schedule_worst").unwrap();
    let method = header.iter().position(|c| *c == "method").unwrap();
    let isolation = header.iter().position(|c| *c == "isolation").unwrap();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let expected = match (fields[method], fields[isolation]) {
            ("1", _) => ("+", "exact_after_wait"),
            ("4", "read committed") => ("-", "lost"),
            ("4", _) => ("-", "refused"),
            other => panic!("unexpected row {other:?}"),
        };
        assert_eq!((fields[verdict], fields[worst]), expected, "{line}");
    }
}
