//! The SQL dialects a script is read in: one per engine family, each with sqlparser's
//! tokenizer for it, its placeholders, and how its database keeps names.

use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};

/// The SQL a script is read as: one per engine family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptDialect {
    /// PostgreSQL (and the engines speaking its protocol); placeholders `$1, $2, ...`.
    Postgres,
    /// MariaDB; placeholders `?`.
    Mysql,
    /// SQLite; placeholders `?`.
    Sqlite,
}

impl ScriptDialect {
    pub const ALL: [ScriptDialect; 3] = [
        ScriptDialect::Postgres,
        ScriptDialect::Mysql,
        ScriptDialect::Sqlite,
    ];

    pub(super) fn sqlparser(self) -> Box<dyn Dialect> {
        match self {
            ScriptDialect::Postgres => Box::new(PostgreSqlDialect {}),
            ScriptDialect::Mysql => Box::new(MySqlDialect {}),
            ScriptDialect::Sqlite => Box::new(SQLiteDialect {}),
        }
    }

    /// The placeholder for the `n`th bound value (1-based).
    pub(super) fn placeholder(self, n: usize) -> String {
        match self {
            ScriptDialect::Postgres => format!("${n}"),
            ScriptDialect::Mysql | ScriptDialect::Sqlite => "?".to_string(),
        }
    }

    /// `name` as the database keeps it: PostgreSQL cuts identifiers (a column a `\gset`
    /// reads) to 63 bytes, so a variable is compared and stored cut the same way.
    pub fn stored_name(self, name: &str) -> String {
        const NAMEDATALEN: usize = 63;
        match self {
            ScriptDialect::Postgres if name.len() > NAMEDATALEN => {
                let mut cut = NAMEDATALEN;
                while !name.is_char_boundary(cut) {
                    cut -= 1;
                }
                name[..cut].to_string()
            }
            _ => name.to_string(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ScriptDialect::Postgres => "PostgreSQL",
            ScriptDialect::Mysql => "MariaDB",
            ScriptDialect::Sqlite => "SQLite",
        }
    }
}
