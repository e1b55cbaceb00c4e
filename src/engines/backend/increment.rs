//! One increment on a backend: refused at once for a method the database cannot run, with
//! the policy's retries otherwise, each attempt on a connection of its own; method 9's
//! increments join their row's next batch, which a flusher task applies.

use std::sync::Arc;

use super::{Backend, each_db};
use crate::methods::coalesced;
use crate::methods::retry::{self, Attempted, RetryPolicy};
use crate::methods::{self, Span};
use crate::model::{DbFailure, IncrementError, MethodId};

impl Backend {
    /// One increment with the policy's retries; nothing is tried for a method the database
    /// cannot run (its guard would be refused, or would not guard). Method 9's increments
    /// join their row's next batch.
    pub async fn increment(self: &Arc<Self>, method: MethodId, policy: RetryPolicy) -> Attempted {
        if let Some(reason) = self.not_applicable(method) {
            let no_script = method == MethodId::Custom && self.methods.script.is_none();
            let reason = match no_script {
                true => reason,
                false => format!("this engine cannot run the method: {reason}"),
            };
            return Attempted {
                result: Err(IncrementError::NotApplicable(reason)),
                attempts: 0,
                interval: None,
            };
        }
        if method == MethodId::Coalesced {
            return self.coalesced(method.row_id(), policy).await;
        }
        // One span over all attempts: the database work from the first to the last, and one
        // deadline.
        let span = Span::with_deadline(match method {
            MethodId::Custom => self.methods.deadline,
            _ => None,
        });
        let mut attempted = retry::with_retry(policy, || self.attempt(method, &span)).await;
        attempted.interval = span.interval();
        attempted
    }

    /// One attempt of `method` on this engine, on a connection of its own.
    async fn attempt(&self, method: MethodId, span: &Span) -> Result<Option<i64>, IncrementError> {
        let ctx = &self.methods;
        each_db!(&self.db, db => {
            let mut session = match method {
                MethodId::Custom => db.script_session().await?,
                _ => db.session().await?,
            };
            methods::increment(method, &mut session, ctx, span).await
        })
    }

    /// Method 9: joins row `id`'s next batch (starting the row's flusher when none runs) and
    /// waits for the batch's answer.
    async fn coalesced(self: &Arc<Self>, id: i64, policy: RetryPolicy) -> Attempted {
        let (answer, start_flusher) = self.coalescer.join(id);
        if start_flusher {
            // The flusher is a task of its own: the request that started it is answered with
            // its batch, not when the row's queue runs dry.
            let backend = Arc::clone(self);
            tokio::spawn(async move { backend.flush(id, policy).await });
        }
        answer.await.unwrap_or(Attempted {
            result: Err(IncrementError::Database(DbFailure::ours(
                crate::model::ErrorClass::Internal,
                "method 9's flusher ended without answering: the batch was dropped",
            ))),
            attempts: 0,
            interval: None,
        })
    }

    /// Applies row `id`'s batches one after the other until none waits.
    async fn flush(&self, id: i64, policy: RetryPolicy) {
        while let Some(batch) = self.coalescer.next_batch(id) {
            let (k, span) = (batch.len(), Span::default());
            let mut outcome = retry::with_retry(policy, || async {
                self.apply_batch(id, k, &span).await.map(Some)
            })
            .await;
            outcome.interval = span.interval();
            coalesced::deliver(batch, outcome);
        }
    }

    /// One attempt of a batch of `k` increments of row `id`, on a connection of its own.
    async fn apply_batch(&self, id: i64, k: usize, span: &Span) -> Result<i64, IncrementError> {
        let applied =
            each_db!(&self.db, db => coalesced::apply(&mut db.session().await?, id, k, span).await);
        span.end();
        applied
    }
}
