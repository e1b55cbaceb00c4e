//! The API's reads and resets, written once for every engine's pool: only the placeholder
//! style of their SQL and the engine's error table differ. A counter is kept in up to three
//! tables: `counter` (one row each), `counter_shard` (method 10: the sum of its slots) and
//! `counter_ledger` (method 11: the number of its entries; a custom script may use several);
//! reads add them up, resets clear all three.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::errors::ErrorTable;
use crate::model::DbFailure;

/// An engine's SQL for the reads (its placeholders, and how it sums into a BIGINT).
pub struct ReadSql {
    /// Every counter, `(id, count)`, by id.
    pub list: &'static str,
    /// One counter: the same, `WHERE id = <placeholder>`.
    pub get: &'static str,
    /// `DELETE FROM <table> WHERE id = <placeholder> RETURNING id`, for the three tables.
    pub delete_one: [&'static str; 3],
}

/// Deletes return the ids they deleted: every engine here has `RETURNING` on `DELETE`, and
/// sqlx has no engine-neutral "rows affected".
const DELETE_ALL: [&str; 3] = [
    "DELETE FROM counter RETURNING id",
    "DELETE FROM counter_shard RETURNING id",
    "DELETE FROM counter_ledger RETURNING id",
];

/// Every counter, by id.
pub async fn list<DB>(
    pool: &Pool<DB>,
    table: &ErrorTable,
    sql: &ReadSql,
) -> Result<Vec<(i64, i64)>, DbFailure>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> (i64, i64): FromRow<'r, DB::Row>,
    DB::Arguments: IntoArguments<DB>,
{
    let rows = sqlx::query_as(sql.list).fetch_all(pool).await;
    rows.map_err(|err| table.classify(&err))
}

/// One row, if it exists.
pub async fn get<DB>(
    pool: &Pool<DB>,
    table: &ErrorTable,
    sql: &ReadSql,
    id: i64,
) -> Result<Option<(i64, i64)>, DbFailure>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> (i64, i64): FromRow<'r, DB::Row>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let row = sqlx::query_as(sql.get).bind(id).fetch_optional(pool).await;
    row.map_err(|err| table.classify(&err))
}

/// Deletes one counter, or all of them, from every table at once; returns how many counters
/// went.
pub async fn delete<DB>(
    pool: &Pool<DB>,
    table: &ErrorTable,
    sql: &ReadSql,
    id: Option<i64>,
) -> Result<u64, DbFailure>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let deleted = async {
        let mut tx = pool.begin().await?;
        let mut ids = std::collections::BTreeSet::new();
        for (one, all) in sql.delete_one.into_iter().zip(DELETE_ALL) {
            let gone: Vec<(i64,)> = match id {
                Some(id) => sqlx::query_as(one).bind(id).fetch_all(&mut *tx).await?,
                None => sqlx::query_as(all).fetch_all(&mut *tx).await?,
            };
            ids.extend(gone.into_iter().map(|(id,)| id));
        }
        tx.commit().await?;
        Ok::<u64, sqlx::Error>(ids.len() as u64)
    };
    deleted.await.map_err(|err| table.classify(&err))
}

/// Whether the database answers.
pub async fn ping<DB>(pool: &Pool<DB>, table: &ErrorTable) -> Result<(), DbFailure>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let answered = sqlx::query("SELECT 1").execute(pool).await;
    answered.map(|_| ()).map_err(|err| table.classify(&err))
}

/// Whether the counter tables can be read (a script, or someone else, may have dropped one).
pub async fn tables_readable<DB>(pool: &Pool<DB>, table: &ErrorTable) -> Result<(), DbFailure>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let answered = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM counter WHERE 1 = 0) \
         + (SELECT COUNT(*) FROM counter_shard WHERE 1 = 0) \
         + (SELECT COUNT(*) FROM counter_ledger WHERE 1 = 0)",
    )
    .execute(pool)
    .await;
    answered.map(|_| ()).map_err(|err| table.classify(&err))
}
