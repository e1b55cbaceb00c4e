//! The MariaDB engine, on a throwaway server (CI installs mariadb-server): InnoDB's answers
//! differ from PostgreSQL's, and the matrix must show it.

use counter::model::Isolation;

use crate::support::{run_counter, stdout_of_success};

/// Whether the MariaDB tests can run; on CI they must (see [`crate::support::skipped`]).
pub fn mariadb_installed() -> bool {
    let found = counter::engines::mariadb::find_binaries().is_some();
    if !found {
        crate::support::skipped(
            "the MariaDB tests",
            "MariaDB server binaries not installed (apt-get install -y mariadb-server; .ci/run does)",
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn innodb_repeatable_read_lets_a_stale_update_through() {
    if !mariadb_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let out = run_counter(
        [
            "matrix",
            "--engine",
            "mariadb",
            "--levels",
            "repeatable-read",
            "--methods",
            "1,3,4,5",
            "--markdown",
        ],
        &[],
    )
    .await;
    // Method 4 loses updates, so the matrix exits 1 and says so.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mariadb 1"), "{stdout}");
    assert!(
        stdout.contains("| repeatable read    | +             | +                 | -                    | +         |"),
        "{stdout}"
    );
    assert!(stdout.contains("| lost "), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the expected result of this method: repeatable read x method 4")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn innodb_snapshot_isolation_refuses_the_stale_update_instead() {
    if !mariadb_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let out = run_counter(
        [
            "matrix",
            "--engine",
            "mariadb",
            "--engine-option",
            "innodb_snapshot_isolation=on",
            "--levels",
            "repeatable-read",
            "--methods",
            "4",
            "--markdown",
        ],
        &[],
    )
    .await;
    // Refused, not lost: nothing acknowledged vanished, so the matrix exits 0.
    let stdout = stdout_of_success(&out);
    assert!(stdout.contains("| rejected "), "{stdout}");
    assert!(stdout.contains("ER_CHECKREAD="), "{stdout}");
    assert!(stdout.contains("innodb_snapshot_isolation on"), "{stdout}");
    assert!(
        stdout.contains("innodb_flush_log_at_trx_commit 1"),
        "durable: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_runs_every_method_one_request_at_a_time() {
    if !mariadb_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    let out = run_counter(
        [
            "matrix",
            "--engine",
            "mariadb",
            "--levels",
            "read-committed",
            "--methods",
            "all",
            "--requests",
            "3",
            "--concurrency",
            "1",
            "--markdown",
        ],
        &[],
    )
    .await;
    let stdout = stdout_of_success(&out);
    // Every method counts 3; one request at a time races nothing, so no cell earns a "+".
    let row = stdout
        .lines()
        .find(|line| line.starts_with("| read committed     |"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let cells: Vec<&str> = row
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells.len(), 12, "the level and 11 methods: {row}");
    assert!(
        cells[1..].iter().all(|&cell| cell == "?"),
        "one at a time, every method counts 3, inconclusively: {stdout}"
    );
    assert!(stdout.contains("| 3/3            | exact "), "{stdout}");
    assert!(
        stdout.contains("inconclusive: read committed x 1. table lock"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mariadb_session_idle_in_transaction_is_seen_then_cleared() {
    use sqlx::{Connection, Executor};
    if !mariadb_installed() {
        return;
    }
    // Starting a mariadbd loads the CPU: not while a test needs a real race.
    let _cpu = crate::support::busy().await;
    let server = tokio::task::spawn_blocking(|| {
        counter::engines::mariadb::LocalMariaDb::start(counter::engines::Durability::Durable)
    })
    .await
    .unwrap()
    .expect("throwaway mariadbd starts");
    let admin = server.connect_options().database("mysql");
    let mut conn = sqlx::MySqlConnection::connect_with(&admin).await.unwrap();
    conn.execute("CREATE DATABASE counter").await.unwrap();
    let options = server.connect_options().database("counter");
    let db = counter::engines::mariadb::connect(
        &options,
        None,
        None,
        &counter::engines::OpenOptions::new(Isolation::RepeatableRead, 2),
    )
    .await
    .unwrap();
    let idle = || counter::engines::mariadb::idle_in_transaction(&db.pool);
    assert_eq!(idle().await.unwrap(), 0);

    // A session that wrote in a transaction and then went quiet, as a vanished client's would.
    let mut abandoned = sqlx::MySqlConnection::connect_with(&options).await.unwrap();
    let mut transaction = abandoned.begin().await.unwrap();
    transaction
        .execute("INSERT INTO counter (id, count) VALUES (42, 1)")
        .await
        .unwrap();
    // InnoDB refreshes its information_schema transaction tables at most every 100 ms.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(idle().await.unwrap(), 1);
    transaction.rollback().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(idle().await.unwrap(), 0);
    db.pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mariadb_deadlock_answers_with_its_sqlstate_and_its_own_code() {
    if !mariadb_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    let (provisioned, backend) =
        crate::statements::throwaway(counter::model::Engine::Mariadb, Isolation::ReadCommitted)
            .await;
    let counter::engines::Location::Mariadb { options, .. } = &provisioned.location else {
        unreachable!("a MariaDB location");
    };
    let pool = sqlx::MySqlPool::connect_with((**options).clone())
        .await
        .unwrap();
    sqlx::raw_sql("INSERT INTO counter (id, count) VALUES (101, 0), (102, 0)")
        .execute(&pool)
        .await
        .unwrap();
    // The classic cycle: each holds one row and asks for the other's.
    let mut first = pool.begin().await.unwrap();
    let mut second = pool.begin().await.unwrap();
    let lock = "UPDATE counter SET count = count + 1 WHERE id = ?";
    sqlx::query(lock)
        .bind(101)
        .execute(&mut *first)
        .await
        .unwrap();
    sqlx::query(lock)
        .bind(102)
        .execute(&mut *second)
        .await
        .unwrap();
    let waiting = tokio::spawn(async move {
        let result = sqlx::query(lock).bind(102).execute(&mut *first).await;
        (result.map(drop), first)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let closing = sqlx::query(lock).bind(101).execute(&mut *second).await;
    let (waited, first) = waiting.await.unwrap();
    let deadlock = waited
        .err()
        .or(closing.err())
        .expect("one of them is the victim");
    let failure = counter::engines::mariadb::errors::classify(&deadlock);
    let answer = counter::server::ApiError::from_db(&failure);
    assert_eq!(answer.status.as_u16(), 409);
    assert_eq!(answer.body.error, "deadlock_detected");
    assert_eq!(answer.body.sqlstate.as_deref(), Some("40001"));
    assert_eq!(answer.body.code.as_deref(), Some("ER_LOCK_DEADLOCK"));
    drop((first, second));
    pool.close().await;
    backend.close().await;
}

/// The race and the explorer start from the same row: the server's reset waits for InnoDB's
/// purge as the explorer's does (method 2 at repeatable read was "+ / - deadlock (hollow)" on
/// every run: the race met the just-deleted record, the explorer the purged gap), a race "-"
/// that two sessions cannot show is looked at again with three (at read committed it was
/// "race only"), and a disagreement that remains (a race that was lucky) names its schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_race_and_schedules_of_method_2_agree_or_name_the_schedule() {
    if !mariadb_installed() {
        return;
    }
    let _cpu = crate::support::racing().await;
    let args = [
        "matrix",
        "--schedules",
        "--quiet",
        "--engine",
        "mariadb",
        "--levels",
        "read-committed,repeatable-read",
        "--methods",
        "2",
        "--trials",
        "2",
    ];
    let out = crate::support::run_counter(args, &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (_, beside) = stdout
        .split_once("race and schedules")
        .unwrap_or_else(|| panic!("no race and schedules table in {stdout}\n{stderr}"));
    assert!(!beside.contains("race only"), "{stdout}");
    let row = |level: &str| {
        let line = beside.lines().find(|l| l.contains(level));
        line.unwrap_or_else(|| panic!("no {level} row in {stdout}"))
            .to_string()
    };
    // The first requests of a new counter deadlock on the purged gap: the schedules show it,
    // and so does the race unless it was lucky, which is then said with the schedule.
    let repeatable = row("repeatable read");
    assert!(repeatable.contains("/ - deadlock"), "{stdout}");
    if repeatable.contains("(hollow)") {
        let named = beside
            .lines()
            .any(|l| l.contains("repeatable read x 2") && l.contains(": T1 "));
        assert!(named, "the hollow cell names no schedule: {stdout}");
    } else {
        assert!(repeatable.contains("- / - deadlock"), "{stdout}");
    }
    // At read committed two sessions never deadlock; when the race did, three sessions show
    // how.
    let committed = row("read committed");
    assert!(
        committed.contains("+ / +") || committed.contains("- / - deadlock (3 sessions)"),
        "{stdout}"
    );
}
