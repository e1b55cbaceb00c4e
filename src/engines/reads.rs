//! The API's reads and resets, written once for every engine's pool: only the placeholder
//! style of their SQL and the engine's error table differ.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::errors::ErrorTable;
use crate::model::DbFailure;

/// An engine's SQL for the statements that take the row id.
pub struct ReadSql {
    /// `SELECT id, count FROM counter WHERE id = <placeholder>`
    pub get: &'static str,
    /// `DELETE FROM counter WHERE id = <placeholder> RETURNING id`
    pub delete_one: &'static str,
}

const LIST: &str = "SELECT id, count FROM counter ORDER BY id";
/// Deletes return the ids they deleted: every engine here has `RETURNING` on `DELETE`, and
/// sqlx has no engine-neutral "rows affected".
const DELETE_ALL: &str = "DELETE FROM counter RETURNING id";

/// Every row, by id.
pub async fn list<DB>(pool: &Pool<DB>, table: &ErrorTable) -> Result<Vec<(i64, i64)>, DbFailure>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> (i64, i64): FromRow<'r, DB::Row>,
    DB::Arguments: IntoArguments<DB>,
{
    let rows = sqlx::query_as(LIST).fetch_all(pool).await;
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

/// Deletes one row, or all of them; returns how many went.
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
    let deleted: Result<Vec<(i64,)>, _> = match id {
        Some(id) => {
            sqlx::query_as(sql.delete_one)
                .bind(id)
                .fetch_all(pool)
                .await
        }
        None => sqlx::query_as(DELETE_ALL).fetch_all(pool).await,
    };
    deleted
        .map(|ids| ids.len() as u64)
        .map_err(|err| table.classify(&err))
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
