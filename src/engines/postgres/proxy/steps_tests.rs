//! Steps as drivers send them (simple queries, pipelined named statements) and answers as the
//! server sends them (tags, errors, skipped steps).

use super::super::frame::Message;
use super::*;

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// The step `bytes` (one whole message) is to `client`.
fn step(client: &mut ClientSide, bytes: &[u8]) -> Option<Step> {
    client.step(&Message {
        kind: bytes[0],
        bytes,
    })
}

fn parse(name: &str, sql: &str) -> Vec<u8> {
    message(b'P', format!("{name}\0{sql}\0\0\0").as_bytes())
}

fn bind(portal: &str, statement: &str) -> Vec<u8> {
    message(
        b'B',
        format!("{portal}\0{statement}\0\0\0\0\0\0\0").as_bytes(),
    )
}

fn execute(portal: &str) -> Vec<u8> {
    message(b'E', format!("{portal}\0\0\0\0\0").as_bytes())
}

#[test]
fn a_named_statement_is_remembered_and_reused() {
    let mut client = ClientSide::default();
    let parsed = parse("s1", "UPDATE counter SET count = $1");
    assert_eq!(step(&mut client, &parsed), None);
    assert_eq!(step(&mut client, &bind("", "s1")), None);
    let first = step(&mut client, &execute("")).unwrap();
    assert_eq!(first.sql, "UPDATE counter SET count = $1");
    assert_eq!(first.protocol, Protocol::Extended);
    // Later: Bind and Execute only, as sqlx and psycopg 3 do with a cached statement.
    step(&mut client, &bind("", "s1"));
    assert_eq!(step(&mut client, &execute("")).unwrap().sql, first.sql);
    let simple = step(&mut client, &message(b'Q', b"BEGIN\0")).unwrap();
    assert_eq!(
        (simple.sql.as_str(), simple.protocol),
        ("BEGIN", Protocol::Simple)
    );
}

#[test]
fn answers_go_to_their_steps_in_order() {
    let mut out = Outstanding::default();
    let step = |sql: &str, protocol| Step {
        sql: sql.into(),
        protocol,
    };
    out.sent(step("SELECT count", Protocol::Extended));
    out.sent(step("UPDATE", Protocol::Extended));
    assert!(out.heard(b'D', b"").is_empty());
    let first = out.heard(b'C', b"SELECT 1\0");
    let Heard::Answered(sent, answer) = &first[0] else {
        panic!("{first:?}");
    };
    assert_eq!((sent.sql.as_str(), answer.rows), ("SELECT count", 1));
    assert_eq!(answer.tags, vec!["SELECT 1".to_string()]);
    let second = out.heard(b'E', b"SERROR\0C40001\0Mcould not serialize\0\0");
    let Heard::Answered(_, answer) = &second[0] else {
        panic!("{second:?}");
    };
    assert_eq!(
        answer.error,
        Some(("40001".into(), "could not serialize".into()))
    );
    assert_eq!(out.heard(b'Z', b"E"), vec![Heard::Ready(b'E')]);
}

#[test]
fn a_simple_query_answers_at_ready_and_skipped_steps_are_said() {
    let mut out = Outstanding::default();
    out.sent(Step {
        sql: "BEGIN; SELECT 1".into(),
        protocol: Protocol::Simple,
    });
    assert!(out.heard(b'C', b"BEGIN\0").is_empty());
    assert!(out.heard(b'C', b"SELECT 1\0").is_empty());
    let heard = out.heard(b'Z', b"T");
    let Heard::Answered(_, answer) = &heard[0] else {
        panic!("{heard:?}");
    };
    assert_eq!(
        answer.tags,
        vec!["BEGIN".to_string(), "SELECT 1".to_string()]
    );
    assert_eq!(heard[1], Heard::Ready(b'T'));
    // An error in a pipeline: the steps after it are skipped until Sync's ReadyForQuery.
    for sql in ["a", "b"] {
        out.sent(Step {
            sql: sql.into(),
            protocol: Protocol::Extended,
        });
    }
    out.heard(b'E', b"C22012\0Mdivision by zero\0\0");
    let heard = out.heard(b'Z', b"I");
    let Heard::Answered(step, answer) = &heard[0] else {
        panic!("{heard:?}");
    };
    assert_eq!((step.sql.as_str(), answer.skipped), ("b", true));
}
