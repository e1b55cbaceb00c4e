//! Environment and `.env` files -> typed settings.
//!
//! Precedence: flags, then the process environment, then `.env` in the working directory, then
//! `src/.env` (where the original Django project kept it). `dotenvy` never overrides a variable
//! that is already set, so loading the files in that order gives exactly this precedence.
//!
//! Secrets: the password is kept inside [`PgConnectOptions`] and only ever shown through
//! [`redact_url`]; error messages about a bad URL never repeat the URL's text.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::cli::DatabaseArgs;

/// Default number of pooled connections: enough for real contention on one row, few enough that
/// PostgreSQL is not drowned in backends fighting for the same lock.
pub const DEFAULT_POOL_SIZE: u32 = 10;

/// The original project's keys, read when `DATABASE_URL` is absent.
const POSTGRES_KEYS: [&str; 5] = [
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "DATABASE_URL is not a valid postgres:// URL (expected postgres://user:password@host:port/database)"
    )]
    BadDatabaseUrl,
    #[error(
        "with --engine mariadb, DATABASE_URL must be a valid mysql:// URL (mysql://user:password@host:port/database)"
    )]
    BadMysqlUrl,
    #[error("POSTGRES_PORT must be a port number, got {0:?}")]
    BadPort(String),
    #[error(
        "--database-url (DATABASE_URL) names a PostgreSQL database; --engine sqlite uses a throwaway file of its own"
    )]
    UrlWithSqlite,
    #[error(
        "{0} cannot be started here: give its address with --database-url (DATABASE_URL), e.g. {1}"
    )]
    NeedsUrl(&'static str, &'static str),
}

/// Which database a run uses.
#[derive(Debug, Clone)]
pub enum DatabaseTarget {
    /// A database the user configured; used as is.
    Configured(Box<PgConnectOptions>),
    /// Nothing configured: start a throwaway local cluster.
    Throwaway,
}

/// Loads `.env` and `src/.env` into the process environment without overriding anything.
/// Called once, before the command line is parsed, so that clap's `env` fallbacks see them.
pub fn load_dotenv_files() {
    for file in [".env", "src/.env"] {
        // A missing file is the normal case; a malformed one is reported but not fatal.
        if let Err(err) = dotenvy::from_filename(file)
            && !err.not_found()
        {
            eprintln!("warning: ignoring {file}: {err}");
        }
    }
}

/// Decides the database from `--database-url`/`DATABASE_URL`, then the `POSTGRES_*` keys.
pub fn database_target(args: &DatabaseArgs) -> Result<DatabaseTarget, ConfigError> {
    if let Some(url) = args
        .database_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        return parse_database_url(url)
            .map(|options| DatabaseTarget::Configured(Box::new(options)));
    }
    let configured = POSTGRES_KEYS
        .iter()
        .any(|key| std::env::var_os(key).is_some());
    if !configured {
        return Ok(DatabaseTarget::Throwaway);
    }
    let var = |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.to_string());
    let port_text = var("POSTGRES_PORT", "5432");
    let port: u16 = port_text
        .parse()
        .map_err(|_| ConfigError::BadPort(port_text.clone()))?;
    let options = PgConnectOptions::new_without_pgpass()
        .host(&var("POSTGRES_HOST", "localhost"))
        .port(port)
        .username(&var("POSTGRES_USER", "postgres"))
        .password(&var("POSTGRES_PASSWORD", "postgres"))
        .database(&var("POSTGRES_DB", "counter"));
    Ok(DatabaseTarget::Configured(Box::new(options)))
}

/// Parses a PostgreSQL URL. The error deliberately carries no part of the URL: it may hold a
/// password.
pub fn parse_database_url(url: &str) -> Result<PgConnectOptions, ConfigError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(ConfigError::BadDatabaseUrl);
    }
    PgConnectOptions::from_str(url).map_err(|_| ConfigError::BadDatabaseUrl)
}

/// Parses a MariaDB/MySQL URL; like [`parse_database_url`], the error never repeats it.
pub fn parse_mysql_url(url: &str) -> Result<sqlx::mysql::MySqlConnectOptions, ConfigError> {
    let url = url
        .strip_prefix("mariadb://")
        .map(|rest| format!("mysql://{rest}"))
        .unwrap_or_else(|| url.to_string());
    if !url.starts_with("mysql://") {
        return Err(ConfigError::BadMysqlUrl);
    }
    sqlx::mysql::MySqlConnectOptions::from_str(&url).map_err(|_| ConfigError::BadMysqlUrl)
}

/// A URL for humans: everything needed to connect except the password.
pub fn redact_url(options: &PgConnectOptions) -> String {
    let host = options.get_host();
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        host,
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_url_never_contains_the_password() {
        let options = parse_database_url("postgres://alice:s3cret@db.example:6543/shop").unwrap();
        let shown = redact_url(&options);
        assert_eq!(shown, "postgres://alice@db.example:6543/shop");
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn malformed_url_error_does_not_echo_the_url() {
        let err = parse_database_url("mysql://bob:hunter2@x/y").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        let err = parse_database_url("postgres://bob:hunter2@x:notaport/y").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
