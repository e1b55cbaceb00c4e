//! `matrix --schedules`: the explorer beside the race, on the same database and from the same
//! reset (see `Backend::delete`). Where the race showed what no schedule of two sessions does,
//! the explorer looks again with three sessions by itself, so that a disagreement left in the
//! table is a finding with its schedule, not two instruments looking at different things.

use std::time::Duration;

use super::{MatrixConfig, MatrixError};
use crate::engines::Provisioned;
use crate::model::results::MatrixResult;
use crate::model::schedule::StartState;
use crate::model::schedule_results::{Agreement, SchedulesResult};
use crate::model::{Engine, MethodId};
use crate::schedules::{self, SchedulesConfig, THROWAWAY_DEADLOCK_TIMEOUT};

/// The most switches away from a session that could go on, with three sessions: the
/// deadlocks of three inserts of one key need two (measured on MariaDB 10.11: method 2 at
/// read committed, 35 schedules in 10 s, 5 of them deadlocks), and the bound keeps a cell to
/// seconds instead of hours.
const THREE_SESSIONS_MAX_SWITCHES: u32 = 2;

/// The exploration of a matrix's cells: its levels and methods (those without schedules are
/// n/a), both starting states, two sessions. On a throwaway PostgreSQL cluster deadlocks are
/// detected after 200 ms.
fn beside(matrix: &MatrixConfig, throwaway: bool) -> SchedulesConfig {
    SchedulesConfig {
        engine: matrix.engine,
        levels: matrix.levels.clone(),
        methods: matrix.methods.clone(),
        starts: vec![StartState::Exists, StartState::Absent],
        scope: matrix.scope,
        engine_options: matrix.engine_options.clone(),
        script: matrix.script.clone(),
        sessions: 2,
        max_switches: None,
        max_schedules: 20_000,
        lock_timeout: Duration::from_secs(5),
        deadlock_timeout: (throwaway && matrix.engine == Engine::Postgres)
            .then_some(THROWAWAY_DEADLOCK_TIMEOUT),
        keep_all: false,
        stop: Default::default(),
    }
}

/// Explores every cell of `result` on the same database, looks further where the race alone
/// saw a failure, and writes each record's schedule verdict beside its race verdict.
pub(super) async fn with_schedules(
    mut result: MatrixResult,
    config: &MatrixConfig,
    provisioned: &Provisioned,
) -> Result<MatrixResult, MatrixError> {
    let two = beside(config, provisioned.throwaway.is_some());
    let mut explored = explore(&two, provisioned).await?;
    for (level, method) in race_only(&result, &explored) {
        let three = SchedulesConfig {
            levels: vec![level],
            methods: vec![method],
            sessions: 3,
            max_switches: Some(THREE_SESSIONS_MAX_SWITCHES),
            ..two.clone()
        };
        let further = explore(&three, provisioned).await?;
        explored.meta.schedules_run += further.meta.schedules_run;
        explored.cells.extend(further.cells);
    }
    for run in &mut result.runs {
        let level = run.isolation;
        let verdict = level.and_then(|level| explored.verdict_for(level, run.method));
        run.schedule_verdict = verdict.map(|(verdict, _)| verdict);
        run.schedule_worst = verdict.map(|(_, worst)| worst);
    }
    result.schedules = Some(explored);
    Ok(result)
}

async fn explore(
    config: &SchedulesConfig,
    provisioned: &Provisioned,
) -> Result<SchedulesResult, MatrixError> {
    schedules::run(config, &provisioned.location, |_| {})
        .await
        .map_err(|err| MatrixError::Schedules(err.to_string()))
}

/// The cells whose race was "-" while every schedule of two sessions was exact.
fn race_only(
    result: &MatrixResult,
    explored: &SchedulesResult,
) -> Vec<(crate::model::Isolation, MethodId)> {
    let mut cells = Vec::new();
    for &level in &result.meta.levels {
        for &number in &result.meta.methods {
            let race = result.race_verdict(level, number);
            let proof = explored.verdict_for(level, number);
            let (Some(race), Some((proof, _))) = (race, proof) else {
                continue;
            };
            let method = MethodId::from_number(u64::from(number));
            if let (Agreement::RaceOnly, Some(method)) = (Agreement::of(race, proof), method) {
                cells.push((level, method));
            }
        }
    }
    cells
}
