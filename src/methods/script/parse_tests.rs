use super::*;
use crate::methods::script::statement::Pause;
use std::time::Duration;

fn pg(script: &Script) -> &Reading {
    script.reading(ScriptDialect::Postgres).unwrap()
}

#[test]
fn a_read_then_write_script_becomes_its_steps() {
    let text = "-- written: next\nBEGIN;\nSELECT count AS c, count + 1 AS next\n  FROM counter WHERE id = :id \\gset\n\\sleep :think_ms ms\nUPDATE counter SET count = :next WHERE id = :id;\nCOMMIT;\n";
    let parsed = Script::parse("rmw.sql", text).unwrap();
    let script = pg(&parsed);
    assert_eq!(script.written, Some((1, "next".to_string())));
    assert!(matches!(script.steps[0], Step::Begin { line: 2 }));
    let Step::Sql(select) = &script.steps[1] else {
        panic!("{:?}", script.steps[1])
    };
    assert_eq!(select.line, 3);
    assert_eq!(select.gset.as_deref(), Some(""));
    assert_eq!(select.binds, ["id"]);
    assert!(select.sql.ends_with("WHERE id = $1"), "{}", select.sql);
    let maria = parsed.reading(ScriptDialect::Mysql).unwrap();
    let Step::Sql(select) = &maria.steps[1] else {
        panic!("{:?}", maria.steps[1])
    };
    assert!(select.sql.ends_with("WHERE id = ?"), "{}", select.sql);
    assert!(
        matches!(&script.steps[2], Step::Sleep { line: 5, pause: Pause::Variable { name, .. } } if name == "think_ms")
    );
    let Step::Sql(update) = &script.steps[3] else {
        panic!("{:?}", script.steps[3])
    };
    assert_eq!(update.sql, "UPDATE counter SET count = $1 WHERE id = $2");
    assert_eq!(update.binds, ["next", "id"]);
    assert!(!update.returns_rows);
    assert!(matches!(script.steps[4], Step::Commit { line: 7 }));
}

#[test]
fn quotes_casts_and_comments_are_not_variables() {
    let text = "UPDATE counter SET count = count + 1 -- :not_a_variable\n  WHERE id = :id::bigint AND ':x' <> 'a;b' RETURNING count;\n\\refuse-if-zero-rows\n";
    let script = Script::parse("f.sql", text).unwrap();
    let statement = pg(&script).statements().next().unwrap();
    assert_eq!(statement.binds, ["id"]);
    assert!(
        statement.sql.contains("$1::bigint AND ':x' <> 'a;b'"),
        "{}",
        statement.sql
    );
    assert!(statement.returning && statement.returns_rows && statement.refuse_if_zero_rows);
}

#[test]
fn sleeps_take_pgbench_units() {
    let sleeps = [
        ("\\sleep 5 ms", Pause::Fixed(Duration::from_millis(5))),
        ("\\sleep 2", Pause::Fixed(Duration::from_secs(2))),
        ("\\sleep 300 us", Pause::Fixed(Duration::from_micros(300))),
    ];
    for (line, pause) in sleeps {
        let script = Script::parse("s.sql", &format!("SELECT 1;\n{line}\n")).unwrap();
        assert!(
            matches!(&pg(&script).steps[1], Step::Sleep { pause: p, .. } if *p == pause),
            "{line}"
        );
    }
}

#[test]
fn bad_scripts_name_their_line() {
    let cases: [(&str, usize, &str); 27] = [
        (
            "/* x */ DROP TABLE counter;\n",
            1,
            "DROP changes the schema",
        ),
        (
            "DO $$ BEGIN EXECUTE 'DROP TABLE counter'; END $$;\n",
            1,
            "DO runs SQL that counter cannot see",
        ),
        (
            "BEGIN;\nUPDATE counter SET count = count + 1 WHERE id = :id;\nCOMMIT AND CHAIN;\nSELECT 1/0;\nCOMMIT;\n",
            3,
            "chained transaction",
        ),
        (
            "BEGIN;\nSELECT 1;\nPREPARE TRANSACTION 'x';\n",
            3,
            "two-phase",
        ),
        ("SELECT 1;\nCOMMIT PREPARED 'x';\n", 2, "two-phase"),
        ("COPY counter TO STDOUT;\n", 1, "COPY ... STDIN/STDOUT"),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED;\n",
            1,
            "run's (--isolation)",
        ),
        (
            "SET default_transaction_isolation = 'read committed';\n",
            1,
            "run's (--isolation)",
        ),
        ("SELECT 1;\n/**/ COMMIT;\n", 2, "without BEGIN"),
        ("SELECT 1;\n\\sleep 40 s\n\\sleep 40 s\n", 0, "at most 60 s"),
        (
            "SELECT 1;\nDROP TABLE counter;\n",
            2,
            "DROP changes the schema",
        ),
        (
            "BEGIN;\n  create temp table t (x int);\nCOMMIT;\n",
            2,
            "CREATE changes",
        ),
        ("TRUNCATE counter;\n", 1, "TRUNCATE changes the schema"),
        ("", 0, "empty"),
        ("  \n-- nothing\n", 0, "no SQL statement"),
        ("-- only a comment\n\\sleep 1 ms\n", 0, "no SQL statement"),
        ("SELECT 1;\n\\set x 1\n", 2, "unknown meta-command \\set"),
        ("SELECT 1;\n\\sleep 5 minutes\n", 2, "unit"),
        ("SELECT 1;\n\\sleep 61 s\n", 2, "up to 60 s"),
        ("\\gset\nSELECT 1;\n", 1, "must follow a SQL statement"),
        ("BEGIN;\nSELECT 1;\n", 1, "never committed"),
        ("SELECT 1;\nCOMMIT;\n", 2, "without BEGIN"),
        (
            "BEGIN;\nBEGIN;\nCOMMIT;\n",
            2,
            "inside the transaction begun on line 1",
        ),
        (
            "BEGIN ISOLATION LEVEL SERIALIZABLE;\nCOMMIT;\n",
            1,
            "write BEGIN alone",
        ),
        (
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\n",
            1,
            "run's (--isolation)",
        ),
        (
            "SELECT 1;\nUPDATE counter\n SET count = $1;\n",
            2,
            "write variables as :name",
        ),
        (
            "SELECT 1;\nUPDATE counter SET count = 1\n",
            2,
            "no ending ;",
        ),
    ];
    for (text, line, words) in cases {
        let err = Script::parse("bad.sql", text).unwrap_err();
        assert_eq!(err.line, line, "{text:?}: {err}");
        assert!(err.to_string().contains(words), "{text:?}: {err}");
        let place = match line {
            0 => "bad.sql: ".to_string(),
            line => format!("bad.sql:{line}: "),
        };
        assert!(err.to_string().starts_with(&place), "{err}");
    }
}

#[test]
fn a_script_is_bounded_in_statements() {
    let text = "SELECT 1;\n".repeat(MAX_SCRIPT_STATEMENTS + 1);
    let err = Script::parse("long.sql", &text).unwrap_err();
    assert!(err.to_string().contains("limited to 1000"), "{err}");
    let text = "SELECT 1;\n".repeat(MAX_SCRIPT_STATEMENTS);
    assert!(Script::parse("long.sql", &text).is_ok());
}

#[test]
fn a_file_that_is_not_utf8_or_too_large_is_refused_with_where() {
    let dir = std::env::temp_dir().join(format!("counter-script-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("latin1.sql");
    std::fs::write(&bad, b"SELECT 1;\n-- caf\xe9\nSELECT 2;\n").unwrap();
    let err = Script::load(&bad).unwrap_err();
    let large = dir.join("large.sql");
    let text = "SELECT 1;\n".repeat(MAX_SCRIPT_BYTES as usize / 10 + 1);
    std::fs::write(&large, text).unwrap();
    let too_large = Script::load(&large).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(err.line, 2, "{err}");
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    assert!(
        too_large.to_string().contains("limited to 1048576 bytes"),
        "{too_large}"
    );
}

#[test]
fn comments_and_quotes_do_not_hide_a_transaction_command() {
    // The transaction commands a hand-written splitter missed are seen for what they are.
    let text = "/**/ BEGIN;\nUPDATE counter SET count = count + 1 WHERE id = :id RETURNING count;\n-- a comment\nEND;\n";
    let script = Script::parse("hidden.sql", text).unwrap();
    let steps = &pg(&script).steps;
    assert!(matches!(steps[0], Step::Begin { line: 1 }), "{steps:?}");
    assert!(matches!(steps[2], Step::Commit { line: 4 }), "{steps:?}");
    let text = "SELECT 'a;b', E'it\\'s;', $$x;y$$ /* ; */ AS c;\n";
    let script = Script::parse("quotes.sql", text).unwrap();
    assert_eq!(pg(&script).statements().count(), 1);
}

#[test]
fn each_dialect_reads_the_script_in_its_own_sql() {
    // `$$` quotes only in PostgreSQL: MariaDB reads two statements there, as MySQL's
    // tokenizer does.
    let script = Script::parse("dollar.sql", "SELECT $$a;b$$ AS x;\n").unwrap();
    assert_eq!(pg(&script).statements().count(), 1);
    let maria = script.reading(ScriptDialect::Mysql).unwrap();
    assert_eq!(maria.statements().count(), 2);
    // A backslash escapes a quote only in MySQL's strings.
    let script = Script::parse("backslash.sql", "SELECT 'a\\';\nSELECT ';';\n").unwrap();
    assert_eq!(pg(&script).statements().count(), 2);
}

#[test]
fn long_names_are_cut_as_postgresql_cuts_them_and_shortened_when_echoed() {
    let long = "v".repeat(70_000);
    let text = format!("SELECT 1 AS {long} \\gset\nSELECT :{long};\n");
    let script = Script::parse("long.sql", &text).unwrap();
    let reading = pg(&script);
    let second = reading.statements().nth(1).unwrap();
    assert_eq!(second.binds[0].len(), 63);
    let err = Script::parse("long.sql", &format!("SELECT 1;\n\\{long}\n")).unwrap_err();
    assert!(err.to_string().len() < 300, "{}", err.to_string().len());
}
