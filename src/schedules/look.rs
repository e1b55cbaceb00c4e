//! Whether an unanswered statement is blocked: never guessed from time alone. The probe
//! connection asks the database (PostgreSQL `pg_blocking_pids`, MariaDB's InnoDB and
//! process-list states) after a few milliseconds, and again at an interval, until the
//! statement answers or is seen waiting for a lock held by another instance (or by a
//! connection outside the schedule).

use std::time::{Duration, Instant};

use super::instance::Phase;
use super::run::Runner;
use crate::engines::blocking::{BlockingProbe, Wait};

/// How often an unanswered statement is asked about: first after this long...
pub(super) const FIRST_LOOK: Duration = Duration::from_millis(2);
/// ...then at this interval.
const LOOK_EVERY: Duration = Duration::from_millis(5);

impl<P: BlockingProbe> Runner<'_, P> {
    /// How long until the first of `unconfirmed` is due to be asked about.
    pub(super) fn next_look(&self, unconfirmed: &[usize]) -> Duration {
        let due = unconfirmed
            .iter()
            .filter_map(|&i| match &self.instances[i].phase {
                Phase::Sent { since, looked, .. } => {
                    let after = if *looked { LOOK_EVERY } else { FIRST_LOOK };
                    Some(after.saturating_sub(since.elapsed()))
                }
                _ => None,
            });
        due.min()
            .unwrap_or(LOOK_EVERY)
            .max(Duration::from_micros(200))
    }

    /// Asks the database about each unanswered statement.
    pub(super) async fn look_at(&mut self, unconfirmed: &[usize]) {
        for &i in unconfirmed {
            let Phase::Sent { since, step, .. } = &self.instances[i].phase else {
                continue;
            };
            let (since, step) = (*since, *step);
            if since.elapsed() < FIRST_LOOK {
                continue;
            }
            let ids: Vec<i64> = self.instances.iter().map(|instance| instance.id).collect();
            let ours: Vec<i64> = (0..ids.len()).filter(|&j| j != i).map(|j| ids[j]).collect();
            let wait = self.probe.waits(ids[i], &ours).await;
            tracing::debug!(instance = i + 1, ?wait, "asked the database");
            // An answer that came meanwhile wins: the statement is no longer waiting.
            if !self.instances[i].is_sent() {
                continue;
            }
            match wait {
                Ok(Wait::OnOurs { holders, lock }) => {
                    // InnoDB lists one row per lock held, so one holder can come twice.
                    let mut on: Vec<usize> = holders
                        .iter()
                        .filter_map(|h| ids.iter().position(|id| id == h))
                        .collect();
                    on.sort_unstable();
                    on.dedup();
                    let whom = match on.as_slice() {
                        [] => "another session".to_string(),
                        on => on
                            .iter()
                            .map(|j| format!("T{}", j + 1))
                            .collect::<Vec<_>>()
                            .join(", "),
                    };
                    self.steps[step].waited_for = Some(format!("{lock}, held by {whom}"));
                    self.instances[i].waited_on_ours = true;
                    if let Phase::Sent {
                        blocked, waited, ..
                    } = &mut self.instances[i].phase
                    {
                        *blocked = Some(on);
                        *waited = true;
                    }
                    self.progress = Instant::now();
                }
                Ok(Wait::OnStranger { holder, lock }) => {
                    self.instances[i].waited_on_ours = false;
                    self.instances[i].stranger = Some(format!("{lock}, held by {holder}"));
                    self.mark_looked(i);
                }
                Ok(Wait::Running | Wait::Unsure) => self.mark_looked(i),
                Err(err) => {
                    tracing::warn!(%err, "the probe could not ask about T{}", i + 1);
                    self.mark_looked(i);
                }
            }
        }
    }

    fn mark_looked(&mut self, i: usize) {
        if let Phase::Sent { looked, since, .. } = &mut self.instances[i].phase {
            *looked = true;
            *since = Instant::now();
        }
    }
}
