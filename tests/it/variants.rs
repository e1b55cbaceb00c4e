//! CockroachDB and YugabyteDB cannot run on this machine. What they share with PostgreSQL
//! runs here against PostgreSQL: the driver and the methods' SQL, the migration without
//! sqlx's advisory lock, the level and version readouts with their fallbacks, the probes that
//! find methods a database cannot really run, and the ambiguous-commit SQLSTATE.

use counter::engines::postgres::probes::{self as capabilities, ADVISORY_LOCK, ADVISORY_TRY};
use counter::engines::postgres::{self, errors};
use counter::engines::{Backend, Location, OpenOptions};
use counter::model::Isolation;
use counter::model::{Engine, ErrorClass, MethodId};
use counter::server::AppState;
use reqwest::{Method, StatusCode};

use crate::support::{fresh_database, run_counter, start_server_with, url_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_engines_ask_for_a_url_instead_of_starting_one() {
    let _cpu = crate::support::busy().await;
    for (engine, product) in [("cockroach", "CockroachDB"), ("yugabyte", "YugabyteDB")] {
        for verb in ["serve", "matrix"] {
            let out = run_counter([verb, "--engine", engine], &[]).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{verb} {engine}: {stderr}");
            assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
            assert!(stderr.contains(product), "{stderr}");
            assert!(stderr.contains("--database-url"), "{stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_protocol_engine_runs_the_shared_methods_under_its_own_name() {
    let _cpu = crate::support::busy().await;
    let url = url_of(&fresh_database().await);
    let dir = crate::support::TempDir::new("variants");
    let csv = dir.join("yugabyte.csv");
    let out = run_counter(
        [
            "matrix",
            "--engine",
            "yugabyte",
            "--database-url",
            &url,
            "--levels",
            "read-committed",
            "--methods",
            "1,2,6",
            "--requests",
            "40",
            "--csv",
            csv.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    let stdout = crate::support::stdout_of_success(&out);
    assert!(stdout.contains("yugabytedb"), "{stdout}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{text}");
    for row in rows {
        // PostgreSQL passes the probes, so every method ran, and each guard held.
        assert!(row.starts_with("yugabytedb,"), "{row}");
        assert!(row.contains(",read committed,read committed,"), "{row}");
        assert!(row.contains(",+,exact,"), "{row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_level_readouts_fall_back_to_what_postgresql_answers() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    for engine in [Engine::Cockroach, Engine::Yugabyte] {
        let location = Location::Postgres {
            options: Box::new(options.clone()),
            engine,
            pooler: None,
            follow: None,
            scripts: None,
        };
        let backend = Backend::open(&location, &OpenOptions::new(Isolation::RepeatableRead, 2))
            .await
            .unwrap();
        let about = backend.describe();
        assert_eq!(about.engine, engine);
        assert_eq!(about.effective_isolation, "repeatable read");
        // CockroachDB's own name is in version(); here it is PostgreSQL's.
        if engine == Engine::Cockroach {
            assert!(
                about.server_version.starts_with("PostgreSQL 1"),
                "{}",
                about.server_version
            );
        }
        assert_eq!(backend.not_applicable(MethodId::TableLock), None);
        assert_eq!(backend.not_applicable(MethodId::AdvisoryLock), None);
        backend.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_tell_refused_and_unenforced_guards_from_working_ones() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    // The table must exist for the real guard (a missing table is an error, not a gap).
    let missing = capabilities::refused(&options, "LOCK TABLE counter IN EXCLUSIVE MODE").await;
    assert!(missing.is_err(), "{missing:?}");
    postgres::connect(&options, Isolation::ReadCommitted, 1)
        .await
        .unwrap();
    assert_eq!(capabilities::probe(&options).await.unwrap(), vec![]);

    // A statement this server refuses as unsupported (0A000): reported with its words.
    let refused = capabilities::refused(&options, "SELECT count(*) FROM counter FOR UPDATE")
        .await
        .unwrap()
        .expect("FOR UPDATE with an aggregate is refused");
    assert!(refused.contains("0A000"), "{refused}");
    assert!(refused.contains("FOR UPDATE"), "{refused}");

    // A "lock" that locks nothing, like CockroachDB's old advisory-lock stubs.
    let stub = capabilities::does_not_exclude(&options, "SELECT $1::bigint", ADVISORY_TRY)
        .await
        .unwrap()
        .expect("a lock that excludes no one is found out");
    assert!(stub.contains("no-op"), "{stub}");

    // A lock whose exclusion cannot be checked (no try function here).
    let unknown = capabilities::does_not_exclude(&options, ADVISORY_LOCK, "SELECT nope($1)")
        .await
        .unwrap()
        .expect("an unverifiable lock is not trusted");
    assert!(unknown.contains("42883"), "{unknown}");

    let real = capabilities::does_not_exclude(&options, ADVISORY_LOCK, ADVISORY_TRY).await;
    assert_eq!(real.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_the_probe_ruled_out_is_a_409_and_listed_as_unavailable() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    let reason = "the database refuses `LOCK TABLE counter IN EXCLUSIVE MODE`: test";
    let open = OpenOptions::new(Isolation::ReadCommitted, 2);
    let server = start_server_with(&options, open, |mut backend| {
        backend.rule_out(MethodId::TableLock, reason);
        AppState::with_backend(backend, 3)
    })
    .await;
    let (status, body) = server.increment(1).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "not_applicable");
    assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
    assert_eq!(server.count(1).await, None, "nothing was tried");

    let (status, info) = server.call(Method::GET, "/api/v1/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["unavailable"][0]["number"], 1, "{info}");
    assert_eq!(info["unavailable"][0]["reason"], reason, "{info}");
    let (status, _) = server.increment(2).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_commit_is_unknown_never_rejected() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    let database = postgres::connect(&options, Isolation::ReadCommitted, 1)
        .await
        .unwrap();
    let pool = &database.pool;
    let ambiguous = sqlx::raw_sql(
        "DO $$ BEGIN RAISE EXCEPTION 'result is ambiguous' USING ERRCODE = '40003'; END $$",
    )
    .execute(pool)
    .await
    .unwrap_err();
    let ambiguous = errors::classify(&ambiguous);
    assert_eq!(ambiguous.class, ErrorClass::Ambiguous);
    assert_eq!(ambiguous.code(), Some("40003"));
    assert!(!ambiguous.is_retryable(), "retrying could count it twice");
    let answer = counter::server::ApiError::from_db(&ambiguous);
    assert_eq!(answer.status.as_u16(), 503);
    assert_eq!(answer.body.sqlstate.as_deref(), Some("40003"));

    let refused = sqlx::raw_sql(
        "DO $$ BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$",
    )
    .execute(pool)
    .await
    .unwrap_err();
    let refused = errors::classify(&refused);
    assert!(matches!(refused.class, ErrorClass::Rejected { .. }));
    assert!(refused.is_retryable());
}
