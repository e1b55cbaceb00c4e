//! The increment methods: one file each, every algorithm written once. An engine takes part
//! by implementing [`Session`]: the handful of statements the methods are made of, in its own
//! SQL (its `engines/<name>/session.rs`). The methods decide the order of those statements,
//! which is what the experiment is about.
//!
//! Method N increments the row with id N. Engines run fixed `&'static str` SQL with bind
//! parameters, never formatted SQL.

mod advisory_lock;
mod atomic_update;
pub mod coalesced;
mod compare_and_swap;
pub mod custom;
mod get_or_create;
mod in_process_lock;
mod ledger;
mod read_modify_write;
mod read_then_write;
pub mod retry;
mod row_lock;
pub mod script;
mod session;
mod sharded;
mod span;
mod table_lock;
mod upsert;

use crate::model::{IncrementError, MethodId};
pub use session::{
    Canceller, DEFAULT_SHARDS, Guard, Inserted, MethodContext, Read, Session, TxReport,
};
pub use span::Span;

/// One increment of `method`'s row, one attempt, on `session`; returns the count this request
/// wrote, when the method knows it (see [`MethodId::count_is`]). `span` is stretched over the database work that decides the increment, lock waits
/// included: the whole transaction of a transactional method; for the autocommit methods
/// the statements after get-or-create (which commits on its own and decides nothing).
pub async fn increment<S: Session>(
    method: MethodId,
    session: &mut S,
    ctx: &MethodContext,
    span: &Span,
) -> Result<Option<i64>, IncrementError> {
    let result = run(method, session, ctx, span).await;
    span.end();
    result
}

async fn run<S: Session>(
    method: MethodId,
    session: &mut S,
    ctx: &MethodContext,
    span: &Span,
) -> Result<Option<i64>, IncrementError> {
    let id = method.row_id();
    let get_or_create_first = matches!(
        method,
        MethodId::AtomicUpdate | MethodId::CompareAndSwap | MethodId::Coalesced | MethodId::Custom
    );
    if !get_or_create_first {
        span.begin();
    }
    let written = match method {
        MethodId::TableLock => table_lock::increment(session, ctx, id).await,
        MethodId::RowLock => row_lock::increment(session, ctx, id).await,
        MethodId::AtomicUpdate => atomic_update::increment(session, id, span).await,
        MethodId::ReadModifyWrite => read_modify_write::increment(session, ctx, id).await,
        MethodId::Upsert => upsert::increment(session, id).await,
        MethodId::AdvisoryLock => advisory_lock::increment(session, ctx, id).await,
        MethodId::CompareAndSwap => compare_and_swap::increment(session, ctx, id, span).await,
        MethodId::InProcessLock => in_process_lock::increment(session, ctx, id).await,
        // Alone, a batch of one; the engine layer batches concurrent requests.
        MethodId::Coalesced => coalesced::apply(session, id, 1, span).await,
        MethodId::Sharded => sharded::increment(session, ctx, id).await,
        MethodId::Ledger => return ledger::increment(session, id).await.map(|()| None),
        MethodId::Custom => {
            let Some(script) = &ctx.script else {
                return Err(IncrementError::NotApplicable(NO_SCRIPT.to_string()));
            };
            return custom::increment(session, ctx, script, id, span).await;
        }
    };
    written.map(Some)
}

/// What `method` does, in words (on PostgreSQL; an engine that does it differently says so).
pub fn summary(method: MethodId) -> &'static str {
    match method {
        MethodId::TableLock => table_lock::SUMMARY,
        MethodId::RowLock => row_lock::SUMMARY,
        MethodId::AtomicUpdate => atomic_update::SUMMARY,
        MethodId::ReadModifyWrite => read_modify_write::SUMMARY,
        MethodId::Upsert => upsert::SUMMARY,
        MethodId::AdvisoryLock => advisory_lock::SUMMARY,
        MethodId::CompareAndSwap => compare_and_swap::SUMMARY,
        MethodId::InProcessLock => in_process_lock::SUMMARY,
        MethodId::Coalesced => coalesced::SUMMARY,
        MethodId::Sharded => sharded::SUMMARY,
        MethodId::Ledger => ledger::SUMMARY,
        MethodId::Custom => script::SUMMARY,
    }
}

/// Why a server cannot run the custom method.
pub const NO_SCRIPT: &str =
    "method 12 (custom) runs the script given with --method-file, and this server has none";

/// How many lost races a compare-and-swap request tolerates before it gives up.
pub use compare_and_swap::MAX_TRIES as CAS_MAX_TRIES;
