use super::*;

fn statements(text: &str, dialect: ScriptDialect) -> Vec<String> {
    lex(text, dialect)
        .unwrap()
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Sql(lexed) => Some(lexed.sql),
            _ => None,
        })
        .collect()
}

#[test]
fn a_semicolon_inside_quotes_dollar_quotes_and_comments_ends_nothing() {
    let text = "SELECT 'a;b', E'it\\'s;', $$x;y$$, $t$;$t$ /* ; */ FROM counter;\nSELECT 2;";
    let got = statements(text, ScriptDialect::Postgres);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].ends_with("FROM counter"), "{got:?}");
}

#[test]
fn variables_become_each_dialects_placeholders_and_casts_stay() {
    let text = "UPDATE counter SET count = :next::bigint WHERE id = :id AND 'a:b' <> ':c';";
    let pieces = lex(text, ScriptDialect::Postgres).unwrap();
    let Piece::Sql(lexed) = &pieces[0] else {
        panic!("{pieces:?}")
    };
    assert_eq!(
        lexed.sql,
        "UPDATE counter SET count = $1::bigint WHERE id = $2 AND 'a:b' <> ':c'"
    );
    assert_eq!(lexed.binds, ["next", "id"]);
    let pieces = lex(text, ScriptDialect::Mysql).unwrap();
    let Piece::Sql(lexed) = &pieces[0] else {
        panic!("{pieces:?}")
    };
    assert!(
        lexed.sql.contains("count = ?::bigint WHERE id = ?"),
        "{lexed:?}"
    );
}

#[test]
fn a_meta_command_takes_the_rest_of_its_line_and_may_end_a_statement() {
    let text = "SELECT count AS c FROM counter WHERE id = :id \\gset p_\n\\sleep 5 ms\nCOMMIT;";
    let pieces = lex(text, ScriptDialect::Postgres).unwrap();
    assert!(matches!(&pieces[0], Piece::Sql(lexed) if !lexed.terminated));
    assert_eq!(
        pieces[1],
        Piece::Meta {
            line: 1,
            text: "gset p_".into()
        }
    );
    assert_eq!(
        pieces[2],
        Piece::Meta {
            line: 2,
            text: "sleep 5 ms".into()
        }
    );
    assert!(matches!(&pieces[3], Piece::Sql(lexed) if lexed.line == 3 && lexed.terminated));
}

#[test]
fn comments_between_statements_are_pieces_and_inside_them_are_text() {
    let text = "-- written: next\nSELECT 1 -- trailing\n;";
    let pieces = lex(text, ScriptDialect::Postgres).unwrap();
    assert_eq!(
        pieces[0],
        Piece::Comment {
            line: 1,
            text: " written: next".into()
        }
    );
    assert!(matches!(&pieces[1], Piece::Sql(lexed) if lexed.line == 2));
}

#[test]
fn multibyte_text_keeps_its_offsets() {
    let text = "SELECT 'é€' AS x, :id AS y;\nSELECT 'ü';";
    let got = statements(text, ScriptDialect::Postgres);
    assert_eq!(got, ["SELECT 'é€' AS x, $1 AS y", "SELECT 'ü'"]);
}

#[test]
fn an_unclosed_quote_is_an_error_with_its_line() {
    let err = lex("SELECT 1;\nSELECT 'oops;\n", ScriptDialect::Postgres).unwrap_err();
    assert!(err.1.contains("cannot read the SQL"), "{err:?}");
}

#[test]
fn a_megabyte_of_blank_lines_is_one_statement_on_its_last_line() {
    // Its time is measured by bench/script-parse.sh (a quadratic pass took minutes).
    let text = format!("{}SELECT 1;", "\n".repeat(1024 * 1024));
    let pieces = lex(&text, ScriptDialect::Postgres).unwrap();
    assert!(matches!(&pieces[..], [Piece::Sql(lexed)] if lexed.line == 1024 * 1024 + 1));
}
