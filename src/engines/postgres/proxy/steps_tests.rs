//! Steps as drivers send them (simple queries, pipelined named statements) and answers as the
//! server sends them (tags, errors, skipped steps).

use super::super::frame::{Message, message};
use super::*;

/// What `bytes` (one whole message) is to `client`.
fn step(client: &mut ClientSide, bytes: &[u8]) -> Sent {
    client.step(&Message {
        kind: bytes[0],
        bytes,
    })
}

fn begun(sent: Sent) -> Step {
    match sent {
        Sent::Begins(step) => step,
        other => panic!("{other:?} begins no step"),
    }
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
fn a_step_begins_at_its_first_parse_or_bind_and_is_run_by_execute() {
    let mut client = ClientSide::default();
    // Parse in a round trip of its own (sqlx): the step begins there, where a repeatable
    // read transaction's snapshot may be taken; its Bind is part of it.
    let parsed = parse("s1", "UPDATE counter SET count = $1");
    let first = begun(step(&mut client, &parsed));
    assert_eq!(first.sql, "UPDATE counter SET count = $1");
    assert_eq!(first.protocol, Protocol::Extended);
    assert_eq!(step(&mut client, &bind("", "s1")), Sent::Other);
    assert_eq!(step(&mut client, &execute("")), Sent::Executes);
    // Later: Bind and Execute only, as sqlx and psycopg 3 do with a cached statement: the
    // step begins at Bind (where the portal's snapshot is taken), with the Parse's SQL.
    assert_eq!(begun(step(&mut client, &bind("", "s1"))).sql, first.sql);
    assert_eq!(step(&mut client, &execute("")), Sent::Executes);
    let simple = begun(step(&mut client, &message(b'Q', b"BEGIN\0")));
    assert_eq!(
        (simple.sql.as_str(), simple.protocol),
        ("BEGIN", Protocol::Simple)
    );
}

#[test]
fn a_step_begun_at_parse_waits_through_the_parses_own_sync() {
    let mut out = Outstanding::default();
    out.sent(Step {
        sql: "SELECT count".into(),
        protocol: Protocol::Extended,
        by_proxy: false,
        values: Vec::new(),
    });
    out.synced();
    // ParseComplete, ParameterDescription, RowDescription, ReadyForQuery: not its answer.
    assert_eq!(out.heard(b'Z', b"T"), vec![Heard::Ready(b'T')]);
    out.executed();
    out.heard(b'D', b"");
    let heard = out.heard(b'C', b"SELECT 1\0");
    let Heard::Answered(step, answer) = &heard[0] else {
        panic!("{heard:?}");
    };
    assert_eq!((step.sql.as_str(), answer.rows), ("SELECT count", 1));
}

#[test]
fn answers_go_to_their_steps_in_order() {
    let mut out = Outstanding::default();
    let step = |sql: &str, protocol| Step {
        sql: sql.into(),
        protocol,
        by_proxy: false,
        values: Vec::new(),
    };
    out.sent(step("SELECT count", Protocol::Extended));
    out.executed();
    out.sent(step("UPDATE", Protocol::Extended));
    out.executed();
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
        by_proxy: false,
        values: Vec::new(),
    });
    out.synced();
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
            by_proxy: false,
            values: Vec::new(),
        });
        out.executed();
    }
    out.synced();
    out.heard(b'E', b"C22012\0Mdivision by zero\0\0");
    let heard = out.heard(b'Z', b"I");
    let Heard::Answered(step, answer) = &heard[0] else {
        panic!("{heard:?}");
    };
    assert_eq!((step.sql.as_str(), answer.skipped), ("b", true));
}

#[test]
fn a_ready_ends_only_the_steps_sent_before_its_own_request() {
    let mut out = Outstanding::default();
    let step = |sql: &str, protocol| Step {
        sql: sql.into(),
        protocol,
        by_proxy: false,
        values: Vec::new(),
    };
    // The start-up's ReadyForQuery: nobody asked for it.
    assert_eq!(out.heard(b'Z', b"I"), vec![Heard::Ready(b'I')]);
    // The proxy's BEGIN, then the client's write already executed when BEGIN's answer comes.
    out.sent(step("BEGIN", Protocol::Simple));
    out.synced();
    out.sent(step("UPDATE counter", Protocol::Extended));
    out.executed();
    out.synced();
    out.heard(b'C', b"BEGIN\0");
    let heard = out.heard(b'Z', b"T");
    assert_eq!(heard.len(), 2, "{heard:?}");
    let Heard::Answered(begin, _) = &heard[0] else {
        panic!("{heard:?}");
    };
    assert_eq!(begin.sql, "BEGIN");
    let heard = out.heard(b'C', b"UPDATE 1\0");
    let Heard::Answered(update, answer) = &heard[0] else {
        panic!("{heard:?}");
    };
    assert_eq!(
        (update.sql.as_str(), answer.written()),
        ("UPDATE counter", 1)
    );
    assert!(!answer.skipped);
}
