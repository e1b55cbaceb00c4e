//! A row's integers, as the wire hands them back.

use sqlx::{Column, ColumnIndex, Decode, Row, Type, TypeInfo};

/// A row's columns as integers (BIGINT or INTEGER, or NULL); the type's name where a column
/// is something else.
pub(super) fn integers<R>(row: &R) -> Vec<(String, Result<Option<i64>, String>)>
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
