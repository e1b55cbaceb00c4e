//! A run that cannot go on. When no instance can go (each is blocked, or parked after
//! SQLITE_BUSY): a server database ends it itself (its deadlock detector, or the lock
//! timeout), so the run waits for that; SQLite would have answered BUSY at once, so the run
//! gives one instance up, as SQLite does. When nothing moves for the run's patience: what each
//! instance was doing, in words, and the unwinding that leaves no connection waiting.

use std::time::{Duration, Instant};

use super::instance::{Instance, Phase};
use super::run::{GaveUp, Halt, Runner};
use crate::engines::blocking::BlockingProbe;

/// How often a lone SQLite writer waiting on a lock outside the schedule tries again.
const RETRY_BUSY: Duration = Duration::from_millis(50);

impl<P: BlockingProbe> Runner<'_, P> {
    /// No instance can go: each is blocked (or parked). A server database ends it itself
    /// (its deadlock detector, or the lock timeout): wait for that. SQLite would have answered
    /// BUSY at once: give one instance up.
    pub(super) async fn resolve(&mut self) -> Result<(), Halt> {
        let unfinished = self.instances.iter().filter(|i| !i.is_done()).count();
        let running = self.instances.iter().any(Instance::is_sent);
        if unfinished > 1 {
            self.deadlock_at.get_or_insert(self.choices.len());
        }
        if running {
            return match tokio::time::timeout(self.patience, self.events.recv()).await {
                Ok(Some((i, event))) => {
                    self.apply(i, event);
                    Ok(())
                }
                _ => Err(Halt::Stuck(self.describe_stuck())),
            };
        }
        let Some(&last) = self.parked_order.last() else {
            return Err(Halt::Stuck(self.describe_stuck()));
        };
        if unfinished > 1 {
            self.instances[last].gave_up = GaveUp::Deadlock;
            self.instances[last].gate.give_up();
            self.go(last);
            return Ok(());
        }
        // Alone and parked: the lock is held outside the schedule. Try again until the
        // patience is over, then let the method hear SQLITE_BUSY.
        tokio::time::sleep(RETRY_BUSY).await;
        let lonely = *self.lonely_since.get_or_insert_with(Instant::now);
        if lonely.elapsed() > self.lock_timeout {
            let instance = &mut self.instances[last];
            instance.gave_up = GaveUp::Stranger;
            instance.stranger =
                Some("the database's lock, held by a connection outside the schedule".into());
            instance.gate.give_up();
        }
        self.go(last);
        Ok(())
    }

    pub(super) fn describe_stuck(&self) -> String {
        let states: Vec<String> = self
            .instances
            .iter()
            .enumerate()
            .map(|(i, instance)| {
                let state = match &instance.phase {
                    Phase::Working => "working".to_string(),
                    Phase::AtGate { statement, .. } => format!("at {}", statement.shown()),
                    Phase::Sent { step, .. } => {
                        format!("running {}", self.steps[*step].statement.shown())
                    }
                    Phase::Parked { statement, .. } => format!("parked at {}", statement.shown()),
                    Phase::Done => "done".to_string(),
                };
                format!("T{}: {state}", i + 1)
            })
            .collect();
        format!(
            "no progress for {:?} ({})",
            self.patience,
            states.join("; ")
        )
    }

    /// On a multi-primary cluster: the next choice waits until every node has applied every
    /// commit (a conflict across nodes does not block; it is decided when a node applies
    /// the other's write set), or (`applier_may_wait`) until a node behind is seen with its
    /// applier waiting for a lock an instance holds. A node that does neither stalls the
    /// cluster.
    pub(super) async fn settle_replicas(&mut self, applier_may_wait: bool) -> Result<(), Halt> {
        match self.probe.settle_replicas(applier_may_wait).await {
            Ok(true) => {
                // What the nodes counted since: the last step's doing (steps go one by one).
                if let (Ok(Some(events)), Some(last)) =
                    (self.probe.cluster_events().await, self.steps.last_mut())
                {
                    last.cluster = Some(events);
                }
                Ok(())
            }
            Ok(false) => Err(Halt::Stalled(format!(
                "the cluster stalled: a node did not apply another node's commit within {} s (its applier waits behind a local lock)",
                crate::engines::mariadb::galera::APPLY_PATIENCE.as_secs()
            ))),
            Err(failure) => Err(Halt::Stuck(format!(
                "the cluster's nodes could not be asked whether they applied every commit: {failure}"
            ))),
        }
    }

    /// What ended the run, as (stuck, stalled): a stop because nothing moved may be a commit
    /// waiting behind a node's stuck applier, so the cluster is asked whether it stalled; a
    /// stalled cluster is brought back first (the instances cannot end while a node is stuck).
    pub(super) async fn halted(&mut self, halt: Option<Halt>) -> (Option<String>, Option<String>) {
        let halt = match halt {
            Some(Halt::Stuck(why)) => match self.settle_replicas(false).await {
                Err(Halt::Stalled(stalled)) => Some(Halt::Stalled(format!("{why}; {stalled}"))),
                _ => Some(Halt::Stuck(why)),
            },
            other => other,
        };
        match halt {
            None => (None, None),
            Some(Halt::Stuck(why)) => (Some(why), None),
            Some(Halt::Stalled(why)) => {
                let why = match self.probe.recover_replicas().await {
                    Ok(done) => format!("{why}; {done}"),
                    Err(failure) => format!("{why}; it could not be brought back: {failure}"),
                };
                (Some(why.clone()), Some(why))
            }
        }
    }

    /// After a stop: cancels what runs, gives every instance up and lets each go until all
    /// are done, so that no connection stays waiting or open.
    pub(super) async fn unwind(&mut self) {
        for instance in &self.instances {
            instance.gate.give_up();
        }
        let deadline = Instant::now() + self.patience;
        while !self.instances.iter().all(Instance::is_done) && Instant::now() < deadline {
            for i in 0..self.instances.len() {
                match self.instances[i].phase {
                    Phase::AtGate { .. } | Phase::Parked { .. } => self.go(i),
                    Phase::Sent { .. } => {
                        let _ = self.probe.cancel(self.instances[i].id).await;
                    }
                    _ => {}
                }
            }
            if let Ok(Some((i, event))) =
                tokio::time::timeout(Duration::from_millis(100), self.events.recv()).await
            {
                self.apply(i, event);
            }
        }
    }
}
