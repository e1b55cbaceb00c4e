//! The rows a step answered, as far as the application explorer reads them: the columns a
//! `RowDescription` describes, and a `DataRow`'s values as integers where they are integers.

use super::frame::Message;

/// A column as `RowDescription` describes it.
#[derive(Debug, Clone)]
pub struct Column {
    name: String,
    type_oid: u32,
    binary: bool,
}

/// `RowDescription`'s columns: name, then table oid (4), column (2), type oid (4), size (2),
/// modifier (4), format (2).
pub fn columns(body: &[u8]) -> Vec<Column> {
    let mut columns = Vec::new();
    let mut rest = body.get(2..).unwrap_or_default();
    while !rest.is_empty() {
        let (name, after) = Message::cstr(rest);
        let Some(fixed) = after.get(..18) else {
            break;
        };
        columns.push(Column {
            name,
            type_oid: u32::from_be_bytes([fixed[6], fixed[7], fixed[8], fixed[9]]),
            binary: fixed[16..18] == [0, 1],
        });
        rest = &after[18..];
    }
    columns
}

/// A `DataRow`'s values as integers where they are integers (int2, int4, int8, or text that
/// reads as one), described otherwise.
pub fn values(columns: &[Column], body: &[u8]) -> Vec<(String, Result<Option<i64>, String>)> {
    let mut values = Vec::new();
    let mut rest = body.get(2..).unwrap_or_default();
    for column in columns {
        let Some(length) = rest.get(..4) else {
            break;
        };
        let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        rest = &rest[4..];
        if length < 0 {
            values.push((column.name.clone(), Ok(None)));
            continue;
        }
        let Some(bytes) = rest.get(..length as usize) else {
            break;
        };
        rest = &rest[length as usize..];
        let value = match (column.binary, column.type_oid, bytes.len()) {
            (true, 20, 8) => Ok(Some(i64::from_be_bytes(bytes.try_into().unwrap_or([0; 8])))),
            (true, 23, 4) => Ok(Some(i64::from(i32::from_be_bytes(
                bytes.try_into().unwrap_or([0; 4]),
            )))),
            (true, 21, 2) => Ok(Some(i64::from(i16::from_be_bytes(
                bytes.try_into().unwrap_or([0; 2]),
            )))),
            (true, oid, _) => Err(format!("type {oid}")),
            (false, _, _) => String::from_utf8_lossy(bytes)
                .parse()
                .map(Some)
                .map_err(|_| "text".to_string()),
        };
        values.push((column.name.clone(), value));
    }
    values
}
