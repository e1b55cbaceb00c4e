//! Method 9, coalesced (write combining): the server gathers concurrent increments of the
//! same row and applies them as one statement, `UPDATE counter SET count = count + k ...
//! RETURNING count` (after a get-or-create, as method 3). One flusher per row per server; the
//! next batch is whatever arrived while the previous one was committing (natural group
//! commit: no timer on the path of a lone request), at most [`MAX_BATCH`] at a time. Each
//! request is answered with its own count, the batch's k consecutive values, so a lost update
//! would still show as a duplicate count. A batch the database refuses refuses every request
//! in it (409), and `--retry` retries the batch. Several servers stay exact: each server's
//! batches are additions, which the database serialises.
//!
//! This module keeps the queues; the engine layer runs the flusher (it owns the
//! connections), calling [`apply`] for each batch.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::get_or_create::get_or_create;
use super::session::{Read, Session};
use super::span::Span;
use crate::model::IncrementError;

pub const SUMMARY: &str =
    "concurrent increments of a row gathered into one UPDATE count = count + k per commit";

/// The most increments one statement applies.
pub const MAX_BATCH: usize = 1_024;

/// What one request of a batch gets back: its own count, the batch's attempts and when the
/// batch's database work ran.
pub type Delivery = oneshot::Sender<super::retry::Attempted>;

/// The requests waiting for each row, and which rows have a flusher.
#[derive(Debug, Default)]
pub struct Coalescer {
    rows: Mutex<HashMap<i64, Row>>,
}

#[derive(Debug, Default)]
struct Row {
    waiting: VecDeque<Delivery>,
    flushing: bool,
}

impl Coalescer {
    /// Queues one increment of row `id`. Returns where its answer will come from, and whether
    /// the caller must start the row's flusher (none is running).
    pub fn join(&self, id: i64) -> (oneshot::Receiver<super::retry::Attempted>, bool) {
        let (deliver, answer) = oneshot::channel();
        let Ok(mut rows) = self.rows.lock() else {
            return (answer, false);
        };
        let row = rows.entry(id).or_default();
        row.waiting.push_back(deliver);
        let start = !row.flushing;
        row.flushing = true;
        (answer, start)
    }

    /// The row's next batch: what arrived since the last one, up to [`MAX_BATCH`]. None when
    /// nothing waits: the flusher stops, and the next request starts a new one.
    pub fn next_batch(&self, id: i64) -> Option<Vec<Delivery>> {
        let mut rows = self.rows.lock().ok()?;
        let row = rows.get_mut(&id)?;
        if row.waiting.is_empty() {
            row.flushing = false;
            return None;
        }
        let take = row.waiting.len().min(MAX_BATCH);
        Some(row.waiting.drain(..take).collect())
    }
}

/// Applies a batch of `k` increments of row `id` in one statement; returns the count after
/// it (the batch's requests wrote the k values ending there).
pub async fn apply<S: Session>(
    session: &mut S,
    id: i64,
    k: usize,
    span: &Span,
) -> Result<i64, IncrementError> {
    get_or_create(session, id, Read::Plain).await?;
    span.begin();
    let by = i64::try_from(k).unwrap_or(i64::MAX);
    let written = session.add(id, by).await?;
    written.ok_or(IncrementError::RowGone(id))
}

/// Answers a batch: on success each request its own count (`last - k + 1 ..= last`), on
/// failure each the same refusal.
pub fn deliver(batch: Vec<Delivery>, outcome: super::retry::Attempted) {
    let k = batch.len() as i64;
    for (index, delivery) in batch.into_iter().enumerate() {
        let result = match &outcome.result {
            Ok(Some(last)) => Ok(Some(last - k + 1 + index as i64)),
            Ok(None) => Ok(None),
            Err(err) => Err(err.clone()),
        };
        let _ = delivery.send(super::retry::Attempted {
            result,
            attempts: outcome.attempts,
            interval: outcome.interval,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::retry::Attempted;

    #[test]
    fn one_flusher_per_row_and_batches_of_what_arrived() {
        let coalescer = Coalescer::default();
        let (_a, first) = coalescer.join(9);
        let (_b, second) = coalescer.join(9);
        let (_c, other_row) = coalescer.join(10);
        assert!(first, "the first request starts the flusher");
        assert!(!second, "one flusher per row");
        assert!(other_row, "rows are independent");
        assert_eq!(coalescer.next_batch(9).map(|b| b.len()), Some(2));
        assert!(
            coalescer.next_batch(9).is_none(),
            "drained: the flusher stops"
        );
        let (_d, again) = coalescer.join(9);
        assert!(again, "the next request starts a new flusher");
    }

    #[test]
    fn each_request_of_a_batch_gets_its_own_count() {
        let coalescer = Coalescer::default();
        let answers: Vec<_> = (0..3).map(|_| coalescer.join(9).0).collect();
        let batch = coalescer.next_batch(9).unwrap();
        deliver(
            batch,
            Attempted {
                result: Ok(Some(12)),
                attempts: 1,
                interval: None,
            },
        );
        let counts: Vec<_> = answers
            .into_iter()
            .map(|mut answer| answer.try_recv().unwrap().result.unwrap())
            .collect();
        assert_eq!(counts, [Some(10), Some(11), Some(12)]);
    }
}
