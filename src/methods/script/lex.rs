//! A script's text cut into pieces by a real SQL tokenizer: `sqlparser`'s, in the dialect of
//! the engine that will run it. Comments, `'...'` with `''`, PostgreSQL's `E'it\'s'` and
//! `$tag$ ... $tag$`, MySQL's backslash escapes and `/*! ... */` hints are what that engine's
//! lexer makes of them, so a `;` inside any of them never ends a statement, and a `COMMIT`
//! after a comment is still a `COMMIT`. (A hand-written splitter got each of these wrong.)
//!
//! On top of the SQL tokens the script language has three things of its own, all outside
//! quotes: `:name` variables (a `:` right before a name, not `::`), meta-commands (a `\` and
//! the rest of its line), and `-- written: var` comments between statements.
//!
//! Linear in the text: the tokenizer is one pass, and token positions (line and column) are
//! turned into byte offsets by a cursor that only moves forward.

use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Whitespace};

pub use super::dialect::ScriptDialect;

/// One piece of a script, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Sql(Lexed),
    /// A meta-command: the text after the backslash, to the end of its line.
    Meta {
        line: usize,
        text: String,
    },
    /// A `--` comment that stands between statements (its text after the `--`).
    Comment {
        line: usize,
        text: String,
    },
}

/// One SQL statement as the tokenizer saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lexed {
    /// The line its first token is on.
    pub line: usize,
    /// Its text (comments inside kept), each variable replaced by the dialect's placeholder.
    pub sql: String,
    /// The variables, in the order of their placeholders.
    pub binds: Vec<String>,
    /// Its tokens, without whitespace and comments (variables left out).
    pub tokens: Vec<Token>,
    /// Ended by `;` (false: by a meta-command on its line, or by the end of the file).
    pub terminated: bool,
}

impl Lexed {
    /// The unquoted words, upper-cased, in order (keywords and plain names).
    pub fn words(&self) -> impl Iterator<Item = String> + '_ {
        self.tokens.iter().filter_map(|token| match token {
            Token::Word(word) if word.quote_style.is_none() => Some(word.value.to_uppercase()),
            _ => None,
        })
    }

    /// The first `n` tokens as upper-cased words (any other token as its text), for matching
    /// the statement's kind.
    pub fn head(&self, n: usize) -> Vec<String> {
        self.tokens
            .iter()
            .take(n)
            .map(|token| match token {
                Token::Word(word) if word.quote_style.is_none() => word.value.to_uppercase(),
                other => other.to_string(),
            })
            .collect()
    }
}

/// A lexing error: the line and the message.
pub type LexError = (usize, String);

/// Cuts `text` into pieces in `dialect`.
pub fn lex(text: &str, dialect: ScriptDialect) -> Result<Vec<Piece>, LexError> {
    let sqlparser = dialect.sqlparser();
    let tokens = Tokenizer::new(sqlparser.as_ref(), text)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|err| {
            let line = usize::try_from(err.location.line).unwrap_or(0);
            (line, format!("cannot read the SQL: {}", err.message))
        })?;
    Lexer {
        text,
        dialect,
        cursor: Cursor::new(text),
        pieces: Vec::new(),
        statement: None,
    }
    .run(&tokens)
}

/// The statement being read.
struct Open {
    line: usize,
    start: usize,
    end: usize,
    sql: String,
    binds: Vec<String>,
    tokens: Vec<Token>,
    /// Byte offset up to which `sql` holds the text.
    copied: usize,
}

impl Open {
    fn new(line: usize, start: usize, end: usize) -> Open {
        Open {
            line,
            start,
            end,
            sql: String::new(),
            binds: Vec::new(),
            tokens: Vec::new(),
            copied: start,
        }
    }
}

struct Lexer<'a> {
    text: &'a str,
    dialect: ScriptDialect,
    cursor: Cursor<'a>,
    pieces: Vec<Piece>,
    statement: Option<Open>,
}

impl Lexer<'_> {
    fn run(mut self, tokens: &[TokenWithSpan]) -> Result<Vec<Piece>, LexError> {
        let mut index = 0;
        while index < tokens.len() {
            let TokenWithSpan { token, span } = &tokens[index];
            let line = line_of(span.start);
            match token {
                Token::EOF => {}
                Token::Whitespace(Whitespace::SingleLineComment { comment, prefix })
                    if self.statement.is_none() && prefix == "--" =>
                {
                    self.pieces.push(Piece::Comment {
                        line,
                        text: comment.trim_end_matches(['\r', '\n']).to_string(),
                    });
                }
                Token::Whitespace(_) => {}
                Token::SemiColon => self.end_statement(true),
                Token::Backslash => {
                    self.end_statement(false);
                    index = self.meta(tokens, index, span.start)?;
                    continue;
                }
                Token::Colon if self.variable_follows(tokens, index) => {
                    let Token::Word(word) = &tokens[index + 1].token else {
                        unreachable!("checked by variable_follows");
                    };
                    let start = self.cursor.offset(span.start);
                    let end = self.cursor.offset(tokens[index + 1].span.end);
                    self.variable(line, start, end, &word.value);
                    index += 2;
                    continue;
                }
                token => {
                    let start = self.cursor.offset(span.start);
                    let end = self.cursor.offset(span.end);
                    let open = self
                        .statement
                        .get_or_insert_with(|| Open::new(line, start, end));
                    open.end = end;
                    open.tokens.push(token.clone());
                }
            }
            index += 1;
        }
        self.end_statement(false);
        Ok(self.pieces)
    }

    /// Whether the `:` at `index` starts a variable: a plain name right after it.
    fn variable_follows(&self, tokens: &[TokenWithSpan], index: usize) -> bool {
        let (colon, Some(next)) = (&tokens[index], tokens.get(index + 1)) else {
            return false;
        };
        let adjacent = colon.span.end == next.span.start;
        let name = matches!(&next.token, Token::Word(word)
            if word.quote_style.is_none() && is_identifier(&word.value));
        adjacent && name
    }

    /// `:name` between `start` and `end`: a placeholder in the text, the name in the binds.
    fn variable(&mut self, line: usize, start: usize, end: usize, name: &str) {
        let open = self
            .statement
            .get_or_insert_with(|| Open::new(line, start, end));
        open.sql.push_str(&self.text[open.copied..start]);
        open.binds.push(self.dialect.stored_name(name));
        open.sql
            .push_str(&self.dialect.placeholder(open.binds.len()));
        open.copied = end;
        open.end = end;
    }

    fn end_statement(&mut self, terminated: bool) {
        let Some(mut open) = self.statement.take() else {
            return;
        };
        open.sql.push_str(&self.text[open.copied..open.end]);
        debug_assert!(open.start <= open.copied);
        self.pieces.push(Piece::Sql(Lexed {
            line: open.line,
            sql: open.sql,
            binds: open.binds,
            tokens: open.tokens,
            terminated,
        }));
    }

    /// A meta-command: the rest of the backslash's line. Returns the index of the first token
    /// after that line.
    fn meta(
        &mut self,
        tokens: &[TokenWithSpan],
        index: usize,
        at: Location,
    ) -> Result<usize, LexError> {
        let line = line_of(at);
        let start = self.cursor.offset(at) + 1;
        let rest = &self.text[start..];
        let end = start + rest.find('\n').unwrap_or(rest.len());
        let text = self.text[start..end].trim_end_matches('\r').to_string();
        let mut next = index + 1;
        while let Some(token) = tokens.get(next) {
            if line_of(token.span.start) != line || token.token == Token::EOF {
                break;
            }
            let ends_on_a_later_line = line_of(token.span.end) > line
                && !matches!(
                    token.token,
                    Token::Whitespace(Whitespace::Newline)
                        | Token::Whitespace(Whitespace::SingleLineComment { .. })
                );
            if ends_on_a_later_line {
                return Err((
                    line,
                    "a quote or comment opened on this meta-command's line goes on past it".into(),
                ));
            }
            next += 1;
        }
        self.pieces.push(Piece::Meta { line, text });
        Ok(next)
    }
}

fn line_of(location: Location) -> usize {
    usize::try_from(location.line).unwrap_or(usize::MAX)
}

/// Turns the tokenizer's (line, column) positions into byte offsets, moving only forward: the
/// tokenizer counts a column per character and starts a line after each `\n`.
struct Cursor<'a> {
    text: &'a str,
    line: u64,
    column: u64,
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Cursor<'a> {
        Cursor {
            text,
            line: 1,
            column: 1,
            offset: 0,
        }
    }

    fn offset(&mut self, to: Location) -> usize {
        while (self.line, self.column) < (to.line, to.column) {
            let Some(c) = self.text[self.offset..].chars().next() else {
                break;
            };
            self.offset += c.len_utf8();
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.offset
    }
}

pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
#[path = "lex_tests.rs"]
mod tests;
