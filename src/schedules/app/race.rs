//! The race against an application: the original study's experiment on the unmodified
//! application, through the proxy at the level explored (no gates: the proxy only relays),
//! so that each level gets both verdicts side by side, the race's and the schedules'.
//!
//! N requests, each on a connection opened first, are let go at once (a barrier); the value
//! is read before and after on a direct connection, and the run is classified as `counter
//! hammer` classifies one (`model::outcome`). The application's HTTP answers do not say why a
//! request failed; the proxy does: a non-2xx answer counts as refused (nothing applied) only
//! as far as the proxy heard the database refuse a statement during the race (a 40001, a
//! deadlock, a duplicate key), and as of unknown fate beyond that, never guessed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;
use tokio::task::JoinSet;

use super::super::tree::Instances;
use super::instances::OnApplication;
use crate::hammer::http::Connection;
use crate::model::outcome::{Ends, Outcome, Verdict};
use crate::model::schedule_results::CellRace;

/// What a race did.
#[derive(Debug, Clone)]
pub(super) struct Race {
    pub requests: u64,
    pub acknowledged: u64,
    /// Answered, not 2xx.
    pub failed: u64,
    /// Refusals the proxy heard from the database during the race.
    pub refusals_heard: u64,
    /// No answer in time, or the connection broke.
    pub unanswered: u64,
    /// Never sent: the application did not accept the connection.
    pub unsent: u64,
    pub change: i64,
    /// The most connections busy at once (a statement under way or a transaction open), as
    /// the proxy saw them: how much the race overlapped.
    pub most_open: u64,
    pub outcome: Outcome,
}

impl Race {
    pub fn verdict(&self) -> Verdict {
        Verdict::judge(self.outcome, None)
    }

    /// As a result records it beside the cell's schedules.
    pub fn cell_race(&self) -> CellRace {
        CellRace {
            requests: self.requests,
            acknowledged: self.acknowledged,
            change: self.change,
            outcome: self.outcome,
            verdict: self.verdict(),
            summary: self.words(),
        }
    }

    /// `- lost (100 requests: 100 2xx; the value rose by 57; at most 9 busy at once)`.
    pub fn words(&self) -> String {
        let mut answers = vec![format!("{} 2xx", self.acknowledged)];
        if self.failed > 0 {
            answers.push(format!(
                "{} not 2xx ({} refusals heard)",
                self.failed, self.refusals_heard
            ));
        }
        if self.unanswered > 0 {
            answers.push(format!("{} unanswered", self.unanswered));
        }
        if self.unsent > 0 {
            answers.push(format!("{} never sent", self.unsent));
        }
        format!(
            "{} {} ({} requests: {}; the value rose by {}; at most {} busy at once)",
            self.verdict(),
            self.outcome,
            self.requests,
            answers.join(", "),
            self.change,
            self.most_open
        )
    }
}

/// Runs `requests` requests of `instances`' application at once, from its starting state.
pub(super) async fn race(instances: &mut OnApplication, requests: usize) -> anyhow::Result<Race> {
    instances
        .reset()
        .await
        .map_err(|failure| anyhow::anyhow!("the race's set-up failed: {failure}"))?;
    let start = instances.start;
    instances.hooks.race_begin();
    let deadline = instances.lock_timeout + Duration::from_secs(30);
    let barrier = Arc::new(Barrier::new(requests));
    let mut tasks = JoinSet::new();
    for _ in 0..requests {
        let (barrier, request) = (Arc::clone(&barrier), instances.request.clone());
        tasks.spawn(async move {
            let connection = Connection::open(&request.endpoint, deadline).await;
            barrier.wait().await;
            match connection {
                Ok(mut connection) => match request.send_on(&mut connection, deadline).await {
                    Ok(reply) if reply.status.is_success() => Ended::Acknowledged,
                    Ok(_) => Ended::Failed,
                    Err(err) if err.never_sent() => Ended::Unsent,
                    Err(_) => Ended::Unanswered,
                },
                Err(_) => Ended::Unsent,
            }
        });
    }
    let mut ended = Vec::with_capacity(requests);
    while let Some(end) = tasks.join_next().await {
        ended.push(end.unwrap_or(Ended::Unanswered));
    }
    let after = instances
        .value()
        .await
        .ok_or_else(|| anyhow::anyhow!("the value could not be read after the race"))?;
    let (refusals_heard, most_open) = instances.hooks.race_end();
    let count = |wanted: Ended| ended.iter().filter(|&&e| e == wanted).count() as u64;
    let (acknowledged, failed) = (count(Ended::Acknowledged), count(Ended::Failed));
    let (unanswered, unsent) = (count(Ended::Unanswered), count(Ended::Unsent));
    let refused = failed.min(refusals_heard);
    let ends = Ends {
        requests: requests as u64,
        acknowledged,
        rejected: refused + unsent,
        not_started: unsent,
        unknown: failed - refused + unanswered,
        change: after - start,
    };
    Ok(Race {
        requests: requests as u64,
        acknowledged,
        failed,
        refusals_heard,
        unanswered,
        unsent,
        change: ends.change,
        most_open,
        outcome: Outcome::classify(ends),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Acknowledged,
    Failed,
    Unanswered,
    Unsent,
}
