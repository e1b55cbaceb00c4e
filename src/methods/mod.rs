//! The increment methods, one file each, and the registry that maps a number or slug to one.
//!
//! Method N increments the row with id N. Every method runs its SQL from fixed `&'static str`
//! text with bind parameters, never formatted SQL.

mod advisory_lock;
mod atomic_update;
mod compare_and_swap;
mod get_or_create;
mod in_process_lock;
pub mod mariadb;
mod read_modify_write;
pub mod retry;
mod row_lock;
pub mod sqlite;
mod table_lock;
mod transaction;
mod upsert;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::PgConnection;

use crate::db::connections::Connections;

/// Method 1's and method 6's guard statements, which the engine probes try (`db::capabilities`).
pub(crate) use advisory_lock::LOCK as ADVISORY_LOCK_SQL;
pub(crate) use table_lock::LOCK as TABLE_LOCK_SQL;

/// A registered method. The discriminant is its public number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MethodId {
    TableLock = 1,
    RowLock = 2,
    AtomicUpdate = 3,
    ReadModifyWrite = 4,
    Upsert = 5,
    AdvisoryLock = 6,
    CompareAndSwap = 7,
    InProcessLock = 8,
}

/// What a method needs besides its row id: the connections (PostgreSQL's unless said
/// otherwise), the pause between read and write, and this server process's own lock
/// (method 8).
#[derive(Debug, Clone)]
pub struct MethodContext<P = Connections> {
    pub pool: P,
    /// Pause between the read and the write of read-then-write methods (`--think-ms`): makes
    /// races show up reliably on small machines.
    pub think: Duration,
    pub local_lock: Arc<tokio::sync::Mutex<()>>,
}

impl<P> MethodContext<P> {
    pub fn new(pool: P, think: Duration) -> MethodContext<P> {
        MethodContext {
            pool,
            think,
            local_lock: Arc::default(),
        }
    }

    async fn think(&self) {
        if !self.think.is_zero() {
            tokio::time::sleep(self.think).await;
        }
    }
}

/// Why an increment was not applied.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Optimistic compare-and-swap lost the race this many times in a row.
    #[error("compare-and-swap lost the race {0} times in a row; gave up")]
    CasExhausted(u32),
    /// An advisory lock was not granted in time; nothing was done.
    #[error("the advisory lock was not granted within 10 s")]
    LockTimeout,
    /// The engine cannot express this method (the reason says why); nothing was tried.
    #[error("{0}")]
    NotApplicable(String),
}

/// What the registry tells about a method (served by `/api/v1/info`, printed in reports).
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct MethodInfo {
    pub number: u32,
    pub slug: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
}

/// Every method, in number order.
pub const REGISTRY: [MethodId; 8] = [
    MethodId::TableLock,
    MethodId::RowLock,
    MethodId::AtomicUpdate,
    MethodId::ReadModifyWrite,
    MethodId::Upsert,
    MethodId::AdvisoryLock,
    MethodId::CompareAndSwap,
    MethodId::InProcessLock,
];

/// The methods of the original study, run by default by `counter matrix`.
pub const ORIGINAL: [MethodId; 3] = [
    MethodId::TableLock,
    MethodId::RowLock,
    MethodId::AtomicUpdate,
];

impl MethodId {
    pub fn info(self) -> MethodInfo {
        let (slug, name, summary) = match self {
            MethodId::TableLock => (
                "table-lock",
                "table lock",
                "LOCK TABLE counter IN EXCLUSIVE MODE first, then get-or-create, read, write read+1",
            ),
            MethodId::RowLock => (
                "row-lock",
                "row lock",
                "SELECT ... FOR UPDATE (get-or-create), read, write read+1",
            ),
            MethodId::AtomicUpdate => (
                "atomic-update",
                "database level",
                "autocommit: get-or-create, then UPDATE counter SET count = count + 1",
            ),
            MethodId::ReadModifyWrite => (
                "read-modify-write",
                "read-modify-write",
                "transaction: read, write read+1, no lock (the control: loses updates)",
            ),
            MethodId::Upsert => (
                "upsert",
                "upsert",
                "INSERT ... ON CONFLICT (id) DO UPDATE SET count = counter.count + 1",
            ),
            MethodId::AdvisoryLock => (
                "advisory-lock",
                "advisory lock",
                "transaction: pg_advisory_xact_lock(id), then read, write read+1",
            ),
            MethodId::CompareAndSwap => (
                "compare-and-swap",
                "compare-and-swap",
                "autocommit: read, UPDATE ... WHERE count = old, loop on 0 rows (bounded)",
            ),
            MethodId::InProcessLock => (
                "in-process-lock",
                "in-process lock",
                "an application mutex around read, write read+1 (one server only)",
            ),
        };
        MethodInfo {
            number: self.number(),
            slug,
            name,
            summary,
        }
    }

    pub fn number(self) -> u32 {
        self as u32
    }

    /// The id of the row this method increments.
    pub fn row_id(self) -> i64 {
        i64::from(self.number())
    }

    pub fn slug(self) -> &'static str {
        self.info().slug
    }

    pub fn from_number(number: u64) -> Option<MethodId> {
        REGISTRY
            .into_iter()
            .find(|m| u64::from(m.number()) == number)
    }

    /// One increment of this method's row, one attempt, on one leased connection; returns
    /// the count this request wrote.
    pub async fn increment(self, ctx: &MethodContext) -> Result<i64, MethodError> {
        let id = self.row_id();
        let mut lease = ctx.pool.acquire().await?;
        let conn: &mut PgConnection = &mut lease;
        let result: Result<i64, MethodError> = match self {
            MethodId::TableLock => table_lock::increment(ctx, conn, id)
                .await
                .map_err(Into::into),
            MethodId::RowLock => row_lock::increment(ctx, conn, id).await.map_err(Into::into),
            MethodId::AtomicUpdate => atomic_update::increment(conn, id).await.map_err(Into::into),
            MethodId::ReadModifyWrite => read_modify_write::increment(ctx, conn, id)
                .await
                .map_err(Into::into),
            MethodId::Upsert => upsert::increment(conn, id).await.map_err(Into::into),
            MethodId::AdvisoryLock => advisory_lock::increment(ctx, conn, id)
                .await
                .map_err(Into::into),
            MethodId::CompareAndSwap => compare_and_swap::increment(ctx, conn, id).await,
            MethodId::InProcessLock => in_process_lock::increment(ctx, conn, id)
                .await
                .map_err(Into::into),
        };
        if let Err(MethodError::Database(err)) = &result {
            lease.check(err);
        }
        result
    }
}

impl fmt::Display for MethodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.slug())
    }
}

/// Why a text names no method.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown method {given:?}: expected one of {}", known_methods())]
pub struct UnknownMethod {
    pub given: String,
}

/// "1 (table-lock), 2 (row-lock), ..." for error messages.
pub fn known_methods() -> String {
    REGISTRY
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for MethodId {
    type Err = UnknownMethod;

    /// A number (`3`) or a slug (`atomic-update`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let found = match text.parse::<u64>() {
            Ok(number) => MethodId::from_number(number),
            Err(_) => REGISTRY
                .into_iter()
                .find(|m| m.slug().eq_ignore_ascii_case(text)),
        };
        found.ok_or_else(|| UnknownMethod {
            given: text.chars().take(64).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_slugs_name_the_same_method() {
        for method in REGISTRY {
            assert_eq!(method.number().to_string().parse(), Ok(method));
            assert_eq!(method.slug().parse(), Ok(method));
        }
        assert!("0".parse::<MethodId>().is_err());
        assert!("99".parse::<MethodId>().is_err());
        assert!("-1".parse::<MethodId>().is_err());
        assert!("lock".parse::<MethodId>().is_err());
    }

    #[test]
    fn registry_is_in_number_order_without_gaps() {
        for (index, method) in REGISTRY.iter().enumerate() {
            assert_eq!(method.number() as usize, index + 1);
        }
    }
}
