//! The values a client bound to a statement (`Bind`), as SQL literals for people: a
//! transcript or an isolation-tester spec shows `WHERE id = 1`, not `WHERE id = $1`. Each
//! value is read with the type its `Parse` declared (0: the server infers it) and the format
//! its `Bind` gives: text is taken as it is (quoted unless it is a number or a boolean);
//! binary integers, booleans, floats and text are decoded; anything else is shown as `?`,
//! never guessed.

use super::frame::Message;
use crate::model::statement::values_written_in;

/// `Parse`'s declared parameter types (after the name and the SQL).
pub fn parse_types(rest: &[u8]) -> Vec<u32> {
    let Some(count) = rest.get(..2) else {
        return Vec::new();
    };
    let count = u16::from_be_bytes([count[0], count[1]]) as usize;
    rest[2..]
        .chunks_exact(4)
        .take(count)
        .map(|oid| u32::from_be_bytes([oid[0], oid[1], oid[2], oid[3]]))
        .collect()
}

/// `Bind`'s values (after the portal and statement names), as SQL literals; None when the
/// message cannot be read.
pub fn bind_values(rest: &[u8], types: &[u32]) -> Option<Vec<String>> {
    let mut at = 0;
    let read_u16 = |at: &mut usize| -> Option<usize> {
        let bytes = rest.get(*at..*at + 2)?;
        *at += 2;
        Some(u16::from_be_bytes([bytes[0], bytes[1]]) as usize)
    };
    let format_count = read_u16(&mut at)?;
    let mut formats = Vec::with_capacity(format_count);
    for _ in 0..format_count {
        formats.push(read_u16(&mut at)?);
    }
    let value_count = read_u16(&mut at)?;
    let mut values = Vec::with_capacity(value_count);
    for index in 0..value_count {
        let length = rest.get(at..at + 4)?;
        let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        at += 4;
        if length < 0 {
            values.push("NULL".to_string());
            continue;
        }
        let bytes = rest.get(at..at + length as usize)?;
        at += length as usize;
        let binary = match formats.len() {
            0 => false,
            1 => formats[0] == 1,
            _ => formats.get(index) == Some(&1),
        };
        let oid = types.get(index).copied().unwrap_or(0);
        values.push(match binary {
            true => binary_literal(oid, bytes),
            false => text_literal(oid, bytes),
        });
    }
    Some(values)
}

/// A text-format value: numbers and booleans as they are, anything else quoted.
fn text_literal(oid: u32, bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let numeric = matches!(oid, 20 | 21 | 23 | 700 | 701 | 1700 | 16)
        || (oid == 0 && text.parse::<f64>().is_ok() && !text.trim().is_empty());
    match numeric {
        true => text.into_owned(),
        false => quoted(&text),
    }
}

/// A binary-format value by its type (an undeclared one by its length, as an integer).
fn binary_literal(oid: u32, bytes: &[u8]) -> String {
    match (oid, bytes.len()) {
        (20 | 0, 8) => i64::from_be_bytes(bytes.try_into().unwrap_or([0; 8])).to_string(),
        (23 | 0, 4) => i32::from_be_bytes(bytes.try_into().unwrap_or([0; 4])).to_string(),
        (21 | 0, 2) => i16::from_be_bytes(bytes.try_into().unwrap_or([0; 2])).to_string(),
        (16, 1) => (bytes[0] != 0).to_string(),
        (701, 8) => f64::from_be_bytes(bytes.try_into().unwrap_or([0; 8])).to_string(),
        (700, 4) => f32::from_be_bytes(bytes.try_into().unwrap_or([0; 4])).to_string(),
        (25 | 1043 | 19 | 1042, _) => quoted(&String::from_utf8_lossy(bytes)),
        _ => "?".to_string(),
    }
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `sql` with `$n` replaced by `values[n - 1]` (`?` past the values given); as it was sent
/// when no values are known (a step begun at a `Parse` whose `Bind` had not come yet).
pub fn written_in(sql: &str, values: &[String]) -> String {
    if values.is_empty() {
        return sql.to_string();
    }
    values_written_in(sql, |index| values.get(index).cloned())
}

/// The statement name a `Bind` body names, and the rest after it.
pub fn bound_statement(body: &[u8]) -> (String, &[u8]) {
    let (_portal, rest) = Message::cstr(body);
    Message::cstr(rest)
}

#[cfg(test)]
mod tests {
    use super::{bind_values, parse_types, written_in};

    fn bind(formats: &[u16], values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(formats.len() as u16).to_be_bytes());
        for format in formats {
            out.extend_from_slice(&format.to_be_bytes());
        }
        out.extend_from_slice(&(values.len() as u16).to_be_bytes());
        for value in values {
            match value {
                Some(bytes) => {
                    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out.extend_from_slice(&0u16.to_be_bytes());
        out
    }

    #[test]
    fn values_as_drivers_bind_them() {
        // sqlx: binary, types declared.
        let types = parse_types(&[0, 2, 0, 0, 0, 20, 0, 0, 0, 25]);
        assert_eq!(types, [20, 25]);
        let body = bind(&[1], &[Some(&7i64.to_be_bytes()), Some(b"it's")]);
        assert_eq!(bind_values(&body, &types).unwrap(), ["7", "'it''s'"]);
        // psycopg 3: text, types undeclared; a NULL.
        let body = bind(&[], &[Some(b"2"), Some(b"UTC"), None]);
        assert_eq!(bind_values(&body, &[]).unwrap(), ["2", "'UTC'", "NULL"]);
        // Binary of a type not decoded: shown as unknown.
        let body = bind(&[1], &[Some(&[1, 2, 3])]);
        assert_eq!(bind_values(&body, &[3802]).unwrap(), ["?"]);
        assert_eq!(bind_values(&[0, 1], &[]), None);
    }

    #[test]
    fn values_go_where_their_numbers_are_and_not_into_quotes() {
        let values = ["1".to_string(), "'a'".to_string()];
        assert_eq!(
            written_in(
                "UPDATE t SET s = $2, n = '$1' WHERE id = $1 AND x = $3",
                &values
            ),
            "UPDATE t SET s = 'a', n = '$1' WHERE id = 1 AND x = ?"
        );
    }
}
