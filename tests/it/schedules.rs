//! The schedule explorer on real databases: blocked steps detected on each engine, every
//! class, the bounds, a lock held outside the schedule, and the same output twice.

use std::sync::Arc;
use std::time::Duration;

use counter::engines::{Durability, provision};
use counter::methods::script::Script;
use counter::model::schedule::{ScheduleClass, StartState};
use counter::model::schedule_results::{ScheduleCell, SchedulesResult};
use counter::model::{Engine, Isolation, IsolationScope, MethodId, Verdict};
use counter::schedules::{self, SchedulesConfig};

use crate::support::{TempDir, fresh_database, location_of};

pub fn config(engine: Engine, levels: &[Isolation], methods: &[MethodId]) -> SchedulesConfig {
    SchedulesConfig {
        engine,
        levels: levels.to_vec(),
        methods: methods.to_vec(),
        starts: vec![StartState::Exists, StartState::Absent],
        scope: IsolationScope::Session,
        engine_options: Vec::new(),
        script: None,
        sessions: 2,
        max_switches: None,
        max_schedules: 10_000,
        lock_timeout: Duration::from_secs(5),
        deadlock_timeout: Some(Duration::from_millis(200)),
        keep_all: false,
        stop: Default::default(),
    }
}

/// Explores `config` on a fresh database of the shared PostgreSQL cluster.
pub async fn explore_postgres(config: &SchedulesConfig) -> SchedulesResult {
    let options = fresh_database().await;
    schedules::run(config, &location_of(&options), |_| {})
        .await
        .unwrap()
}

/// Explores `config` on a throwaway database of its engine (MariaDB, SQLite).
async fn explore_throwaway(config: &SchedulesConfig) -> SchedulesResult {
    let mut provisioned = provision(config.engine, None, Durability::NoFsync, None, None)
        .await
        .unwrap();
    let result = schedules::run(config, &provisioned.location, |_| {}).await;
    provisioned.shutdown();
    result.unwrap()
}

fn cell(
    result: &SchedulesResult,
    level: Isolation,
    method: MethodId,
    start: StartState,
) -> &ScheduleCell {
    let found = result
        .cells
        .iter()
        .find(|c| c.isolation == level && c.method == method.number() && c.start == start);
    found.unwrap_or_else(|| panic!("no cell {level:?} {method} {start:?}"))
}

/// Whether some step of the cell was seen waiting for `what`, and went on after another step.
fn some_step_waited(cell: &ScheduleCell, what: &str) -> bool {
    let steps = cell.schedules.iter().flat_map(|s| &s.steps);
    steps
        .filter(|step| step.waited_for.as_deref().is_some_and(|w| w.contains(what)))
        .any(|step| step.resumed_after.is_some())
}

fn script(dir: &TempDir, name: &str, text: &str) -> Arc<Script> {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    Arc::new(Script::load(&path).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_blocked_steps_are_seen_and_the_original_table_comes_out() {
    let _cpu = crate::support::busy().await;
    let levels = [Isolation::ReadCommitted, Isolation::RepeatableRead];
    let methods = [
        MethodId::TableLock,
        MethodId::RowLock,
        MethodId::AtomicUpdate,
        MethodId::ReadModifyWrite,
    ];
    let result = explore_postgres(&config(Engine::Postgres, &levels, &methods)).await;
    let rc = Isolation::ReadCommitted;
    let rr = Isolation::RepeatableRead;
    let exists = StartState::Exists;
    let table = cell(&result, rc, MethodId::TableLock, exists);
    assert!(
        some_step_waited(table, "table lock, held by T1"),
        "{table:#?}"
    );
    let row = cell(&result, rc, MethodId::RowLock, exists);
    assert!(some_step_waited(row, "row lock"), "{row:#?}");
    assert_eq!(row.verdict, Verdict::Exact);
    assert_eq!(row.worst, ScheduleClass::ExactAfterWait);
    // The original's table: 1 "+" everywhere, 2 and 3 refused at repeatable read.
    for start in [StartState::Exists, StartState::Absent] {
        assert_eq!(
            cell(&result, rr, MethodId::TableLock, start).verdict,
            Verdict::Exact
        );
        for method in [MethodId::RowLock, MethodId::AtomicUpdate] {
            let refused = cell(&result, rr, method, start);
            assert_eq!(refused.worst, ScheduleClass::Refused, "{method} {start:?}");
        }
    }
    // The control loses an update at read committed, from an existing row.
    let lost = cell(&result, rc, MethodId::ReadModifyWrite, exists);
    assert_eq!(lost.worst, ScheduleClass::Lost);
    let shortest = lost.shortest(ScheduleClass::Lost).unwrap();
    assert!(
        shortest.summary.contains("expected 2, got 1"),
        "{}",
        shortest.summary
    );
    // Symmetry: only the schedules that start with T1 ran.
    for cell in &result.cells {
        assert!(cell.schedules.iter().all(|s| s.order.first() == Some(&1)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_blocked_steps_are_seen_and_repeatable_read_loses_the_control() {
    if !crate::mariadb::mariadb_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    let levels = [Isolation::ReadCommitted, Isolation::RepeatableRead];
    let methods = [
        MethodId::TableLock,
        MethodId::RowLock,
        MethodId::ReadModifyWrite,
    ];
    let mut config = config(Engine::Mariadb, &levels, &methods);
    config.starts = vec![StartState::Exists];
    let result = explore_throwaway(&config).await;
    let rc = Isolation::ReadCommitted;
    let exists = StartState::Exists;
    // LOCK TABLES waits on a metadata lock (the process list), FOR UPDATE on a row lock
    // (InnoDB's tables).
    let table = cell(&result, rc, MethodId::TableLock, exists);
    assert!(some_step_waited(table, "table lock"), "{table:#?}");
    assert_eq!(table.verdict, Verdict::Exact);
    let row = cell(&result, rc, MethodId::RowLock, exists);
    assert!(some_step_waited(row, "row lock, held by T1"), "{row:#?}");
    assert_eq!(row.verdict, Verdict::Exact);
    let stale = cell(
        &result,
        Isolation::RepeatableRead,
        MethodId::ReadModifyWrite,
        exists,
    );
    assert_eq!(
        stale.worst,
        ScheduleClass::Lost,
        "InnoDB's repeatable read lets it through"
    );
}

/// InnoDB keeps a deleted row as a delete-marked record until purge: `SELECT ... FOR UPDATE`
/// then locks that record (the second session waits) instead of the gap (both go on and
/// deadlock on their inserts). Each schedule's reset waits for the purge, so the absent row is
/// the never-created row every time: the first schedule (on a table that never held the row)
/// and the later ones agree, and so do two runs on one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_an_absent_row_is_the_same_gap_whatever_the_tables_history() {
    if !crate::mariadb::mariadb_installed() {
        return;
    }
    let _cpu = crate::support::busy().await;
    let mut config = config(
        Engine::Mariadb,
        &[Isolation::RepeatableRead],
        &[MethodId::RowLock],
    );
    config.starts = vec![StartState::Absent];
    let mut provisioned = provision(config.engine, None, Durability::NoFsync, None, None)
        .await
        .unwrap();
    let first = schedules::run(&config, &provisioned.location, |_| {}).await;
    let second = schedules::run(&config, &provisioned.location, |_| {}).await;
    provisioned.shutdown();
    let (first, second) = (first.unwrap(), second.unwrap());
    let gap = cell(
        &first,
        Isolation::RepeatableRead,
        MethodId::RowLock,
        StartState::Absent,
    );
    assert_eq!(gap.worst, ScheduleClass::Deadlock, "{gap:#?}");
    assert_same(&first, &second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_busy_is_a_blocked_step_and_a_stale_snapshot_a_refusal() {
    let _cpu = crate::support::busy().await;
    let level = Isolation::Serializable;
    let methods = [MethodId::TableLock, MethodId::ReadModifyWrite];
    let mut config = config(Engine::Sqlite, &[level], &methods);
    config.starts = vec![StartState::Exists];
    let result = explore_throwaway(&config).await;
    let exists = StartState::Exists;
    let table = cell(&result, level, MethodId::TableLock, exists);
    assert!(some_step_waited(table, "SQLITE_BUSY"), "{table:#?}");
    assert_eq!(table.verdict, Verdict::Exact);
    let control = cell(&result, level, MethodId::ReadModifyWrite, exists);
    assert_eq!(control.worst, ScheduleClass::Refused);
    let refused = control.schedules.iter().flat_map(|s| &s.ends);
    assert!(
        refused
            .into_iter()
            .any(|end| end.contains("SQLITE_BUSY_SNAPSHOT")),
        "{control:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_upgrade_is_a_deadlock_and_numbered_entries_collide() {
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("schedules-classes");
    let mut config = config(
        Engine::Postgres,
        &[Isolation::ReadCommitted],
        &[MethodId::Custom],
    );
    config.starts = vec![StartState::Exists];
    config.script = Some(script(
        &dir,
        "upgrade.sql",
        "BEGIN;\nSELECT count FROM counter WHERE id = :id FOR SHARE;\n\
         UPDATE counter SET count = count + 1 WHERE id = :id;\nCOMMIT;\n",
    ));
    let result = explore_postgres(&config).await;
    let upgrade = cell(
        &result,
        Isolation::ReadCommitted,
        MethodId::Custom,
        StartState::Exists,
    );
    assert_eq!(upgrade.worst, ScheduleClass::Deadlock, "{upgrade:#?}");
    let deadlock = upgrade.shortest(ScheduleClass::Deadlock).unwrap();
    assert!(
        deadlock.ends.iter().any(|end| end.contains("40P01")),
        "{deadlock:#?}"
    );

    let ledger = std::fs::read_to_string("examples/ledger-numbered.sql").unwrap();
    config.script = Some(script(&dir, "ledger.sql", &ledger));
    let result = explore_postgres(&config).await;
    let numbered = cell(
        &result,
        Isolation::ReadCommitted,
        MethodId::Custom,
        StartState::Exists,
    );
    assert_eq!(numbered.worst, ScheduleClass::Duplicate, "{numbered:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_modify_write_script_is_explored_like_method_4() {
    let _cpu = crate::support::busy().await;
    let levels = [Isolation::ReadCommitted, Isolation::RepeatableRead];
    let mut config = config(
        Engine::Postgres,
        &levels,
        &[MethodId::Custom, MethodId::ReadModifyWrite],
    );
    config.starts = vec![StartState::Exists];
    config.script = Some(Arc::new(
        Script::load("examples/read-modify-write.sql".as_ref()).unwrap(),
    ));
    let result = explore_postgres(&config).await;
    for level in levels {
        let script = cell(&result, level, MethodId::Custom, StartState::Exists);
        let method = cell(
            &result,
            level,
            MethodId::ReadModifyWrite,
            StartState::Exists,
        );
        assert_eq!(script.worst, method.worst, "{level:?}");
    }
    let rc = cell(
        &result,
        Isolation::ReadCommitted,
        MethodId::Custom,
        StartState::Exists,
    );
    assert_eq!(rc.worst, ScheduleClass::Lost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_outside_the_schedule_is_a_timeout_and_leaves_nothing_waiting() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    // A stranger holds method 6's advisory lock for the whole exploration.
    let mut stranger = sqlx::ConnectOptions::connect(&options).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(6)")
        .execute(&mut stranger)
        .await
        .unwrap();
    let mut config = config(
        Engine::Postgres,
        &[Isolation::ReadCommitted],
        &[MethodId::AdvisoryLock],
    );
    config.starts = vec![StartState::Exists];
    config.lock_timeout = Duration::from_secs(1);
    let result = schedules::run(&config, &location_of(&options), |_| {})
        .await
        .unwrap();
    let held = cell(
        &result,
        Isolation::ReadCommitted,
        MethodId::AdvisoryLock,
        StartState::Exists,
    );
    assert_eq!(held.worst, ScheduleClass::Timeout, "{held:#?}");
    for schedule in &held.schedules {
        assert_eq!(schedule.class, ScheduleClass::Timeout);
        assert!(
            schedule.summary.contains("advisory lock, held by backend"),
            "{}",
            schedule.summary
        );
    }
    // Nothing of the explorer is left: no session waiting, none open at all. A connection
    // closed on our side leaves its backend in pg_stat_activity until the backend has seen
    // the close and exited (asynchronous, milliseconds; once 3 were still listed on CI), so
    // a leak is a backend still there after a few seconds.
    let started = std::time::Instant::now();
    let left = loop {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut stranger)
        .await
        .unwrap();
        if left == 0 || started.elapsed() > Duration::from_secs(5) {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(left, 0, "connections of the explorer still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sessions_are_bounded_by_switches_and_the_bound_is_counted() {
    let _cpu = crate::support::busy().await;
    let mut counts = Vec::new();
    for max in [0, 1, 2] {
        let mut config = config(
            Engine::Postgres,
            &[Isolation::RepeatableRead],
            &[MethodId::RowLock],
        );
        config.starts = vec![StartState::Exists];
        config.sessions = 3;
        config.max_switches = Some(max);
        let result = explore_postgres(&config).await;
        let cell = &result.cells[0];
        assert!(cell.schedules.iter().all(|s| s.ends.len() == 3));
        counts.push((cell.schedules_run() as usize, cell.cut_by_switches));
    }
    let (run, cut): (Vec<usize>, Vec<u64>) = counts.iter().copied().unzip();
    assert!(run[0] < run[1] && run[1] < run[2], "{counts:?}");
    assert!(cut[0] > 0 && cut[1] > 0, "{counts:?}");
}

/// A result as two runs must give it: without the wall times.
fn without_timings(result: &SchedulesResult) -> serde_json::Value {
    let mut value = serde_json::to_value(result).unwrap();
    value["meta"]["wall_ms"] = serde_json::Value::Null;
    for cell in value["cells"].as_array_mut().unwrap() {
        cell["elapsed_ms"] = serde_json::Value::Null;
    }
    value
}

/// Where two JSON values first differ: the path and both sides.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys = x.keys().chain(y.keys());
            keys.filter_map(|k| {
                let (l, r) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(l, r, &format!("{path}.{k}"))
            })
            .next()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (l, r))| first_difference(l, r, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

fn assert_same(first: &SchedulesResult, second: &SchedulesResult) {
    let (a, b) = (without_timings(first), without_timings(second));
    if let Some(difference) = first_difference(&a, &b, "") {
        // Both runs kept for a look (target/ is not the temp folder, and not committed).
        for (name, value) in [("first", &a), ("second", &b)] {
            let path = format!("target/schedules-{name}-run.json");
            let _ = std::fs::write(&path, serde_json::to_string_pretty(value).unwrap());
        }
        panic!("two runs differ at {difference} (both in target/schedules-*-run.json)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_command_gives_the_same_schedules_twice() {
    let _cpu = crate::support::busy().await;
    let levels = [Isolation::ReadCommitted, Isolation::RepeatableRead];
    let methods = [
        MethodId::RowLock,
        MethodId::AtomicUpdate,
        MethodId::CompareAndSwap,
    ];
    let config = config(Engine::Postgres, &levels, &methods);
    let first = explore_postgres(&config).await;
    let second = explore_postgres(&config).await;
    assert!(
        first.meta.schedules_run > 100,
        "{}",
        first.meta.schedules_run
    );
    assert_same(&first, &second);
    let config = config_for_sqlite();
    let first = explore_throwaway(&config).await;
    let second = explore_throwaway(&config).await;
    assert_same(&first, &second);
}

fn config_for_sqlite() -> SchedulesConfig {
    let methods = [
        MethodId::TableLock,
        MethodId::ReadModifyWrite,
        MethodId::CompareAndSwap,
    ];
    config(Engine::Sqlite, &[Isolation::Serializable], &methods)
}

/// A connection of the schedule before may still be closing when the next one starts: the
/// reset and the final read wait for SQLite's lock instead of failing. Before, 41 of 1,000
/// schedules of this cell read their final count as unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_schedules_never_read_their_count_as_unknown_after_a_closing_connection() {
    let _cpu = crate::support::busy().await;
    let dir = TempDir::new("sqlite-reads");
    let reads = "SELECT count FROM counter WHERE id = :id;\n".repeat(8);
    let mut config = config(
        Engine::Sqlite,
        &[Isolation::Serializable],
        &[MethodId::Custom],
    );
    config.script = Some(script(&dir, "reads.sql", &reads));
    config.starts = vec![StartState::Exists];
    config.sessions = 3;
    config.max_switches = Some(50);
    config.max_schedules = 400;
    let result = explore_throwaway(&config).await;
    let cell = &result.cells[0];
    assert_eq!(cell.schedules_run(), 400, "{:?}", cell.classes);
    // Eight reads and no write: every schedule loses its three increments, none is unknown.
    assert_eq!(
        cell.classes.keys().collect::<Vec<_>>(),
        vec![&ScheduleClass::Lost],
        "{:?}",
        cell.classes
    );
}
