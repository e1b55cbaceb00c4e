//! The schedule explorer on real databases: blocked steps detected, every class, the bounds,
//! and the same output twice.

use std::time::Duration;

use counter::model::schedule::{ScheduleClass, StartState};
use counter::model::schedule_results::SchedulesResult;
use counter::model::{Engine, Isolation, IsolationScope, MethodId, Verdict};
use counter::schedules::{self, SchedulesConfig};

use crate::support::{fresh_database, location_of};

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
    }
}

/// Explores `config` on a fresh database of the shared PostgreSQL cluster.
pub async fn explore_postgres(config: &SchedulesConfig) -> SchedulesResult {
    let options = fresh_database().await;
    schedules::run(config, &location_of(&options), |_| {})
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_modify_write_loses_an_update_at_read_committed_in_some_schedule() {
    let _cpu = crate::support::busy().await;
    let config = config(
        Engine::Postgres,
        &[Isolation::ReadCommitted],
        &[MethodId::ReadModifyWrite],
    );
    let result = explore_postgres(&config).await;
    for cell in &result.cells {
        eprintln!(
            "{:?} {:?} {} {:?}",
            cell.start,
            cell.verdict,
            cell.schedules.len(),
            cell.classes
        );
        for s in &cell.schedules {
            eprintln!("  {:?} {:?} {}", s.order, s.class, s.summary);
        }
    }
    let exists = &result.cells[0];
    assert_eq!(exists.verdict, Verdict::NotExact);
    assert_eq!(exists.worst, ScheduleClass::Lost);
}
