//! The statements of a user's script (the custom method), written once for every engine's
//! connection as `reads.rs` is for pools: only how an engine counts the rows a statement wrote
//! differs. The text comes from the user's file, so it is the one place where SQL is not a
//! `&'static str`; every value still travels as a bind parameter.

use sqlx::{
    AssertSqlSafe, Column, ColumnIndex, Database, Decode, Either, Encode, Executor, IntoArguments,
    Row, SqlSafeStr, Statement, Type, TypeInfo,
};

use sqlx::database::HasStatementCache;

use crate::methods::ScriptRows;

/// Prepares `sql` with `params` BIGINT parameters; its columns' names. Refuses a statement
/// whose own placeholders the database counts differently (a `$1` or `?` typed by the user).
pub async fn prepare<DB>(
    conn: &mut DB::Connection,
    sql: &str,
    params: usize,
) -> Result<Vec<String>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Type<DB>,
{
    let types = vec![<i64 as Type<DB>>::type_info(); params];
    let text = AssertSqlSafe(sql.to_string()).into_sql_str();
    let statement = conn.prepare_with(text, &types).await?;
    let declared = statement.parameters().map(|p| match p {
        Either::Left(types) => types.len(),
        Either::Right(count) => count,
    });
    if let Some(declared) = declared.filter(|&declared| declared != params) {
        return Err(sqlx::Error::Protocol(format!(
            "the statement has {declared} parameters and counter binds {params}: write values \
             as :name variables"
        )));
    }
    Ok(statement
        .columns()
        .iter()
        .map(|column| column.name().to_string())
        .collect())
}

/// Runs `sql` with `binds` in order. With `fetch`, reads the rows it answers with (and the
/// first row's columns as integers where they are); otherwise counts the rows it wrote with
/// the engine's `rows_written`. `persistent`: whether the statement may be named and kept.
pub async fn run<DB>(
    conn: &mut DB::Connection,
    sql: &str,
    binds: &[Option<i64>],
    fetch: bool,
    persistent: bool,
    rows_written: fn(&DB::QueryResult) -> u64,
) -> Result<ScriptRows, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'r> Option<i64>: Decode<'r, DB>,
    for<'r> Option<i32>: Decode<'r, DB>,
    i64: Type<DB>,
    i32: Type<DB>,
    usize: ColumnIndex<DB::Row>,
    DB: HasStatementCache,
{
    let mut query = sqlx::query::<DB>(AssertSqlSafe(sql.to_string())).persistent(persistent);
    for value in binds {
        query = query.bind(*value);
    }
    if !fetch {
        let done = query.execute(&mut *conn).await?;
        return Ok(ScriptRows {
            rows: rows_written(&done),
            first_row: Vec::new(),
        });
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let first_row = rows.first().map(integers).unwrap_or_default();
    Ok(ScriptRows {
        rows: rows.len() as u64,
        first_row,
    })
}

/// A row's columns as integers (BIGINT or INTEGER, or NULL); the type's name where a column
/// is something else.
fn integers<R>(row: &R) -> Vec<(String, Result<Option<i64>, String>)>
where
    R: Row,
    for<'r> Option<i64>: Decode<'r, R::Database>,
    for<'r> Option<i32>: Decode<'r, R::Database>,
    i64: Type<R::Database>,
    i32: Type<R::Database>,
    usize: ColumnIndex<R>,
{
    row.columns()
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let value = row
                .try_get::<Option<i64>, _>(index)
                .or_else(|_| {
                    row.try_get::<Option<i32>, _>(index)
                        .map(|v| v.map(i64::from))
                })
                .map_err(|_| column.type_info().name().to_lowercase());
            (column.name().to_string(), value)
        })
        .collect()
}
