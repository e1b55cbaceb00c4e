//! The environment and `.env` files, and where the database is.
//!
//! Precedence: flags, then the process environment, then `.env` in the working directory, then
//! `src/.env` (where the original Django project kept it). `dotenvy` never overrides a variable
//! that is already set, so loading the files in that order gives exactly this precedence.
//!
//! Secrets: the password is kept inside the driver's connect options and only ever shown
//! redacted; error messages about a bad URL never repeat the URL's text.

use sqlx::postgres::PgConnectOptions;

use crate::engines::{self, Location};
use crate::model::Engine;

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
        "--database-url (or DATABASE_URL) is not a valid postgres:// URL (expected postgres://user:password@host:port/database){0}"
    )]
    BadDatabaseUrl(&'static str),
    #[error(
        "with --engine mariadb, --database-url (or DATABASE_URL) must be a valid mysql:// URL (mysql://user:password@host:port/database){0}"
    )]
    BadMysqlUrl(&'static str),
    #[error("POSTGRES_PORT must be a port number, got {0:?}")]
    BadPort(String),
    #[error(
        "--database-url (DATABASE_URL) names a PostgreSQL database; --engine sqlite uses a throwaway file of its own"
    )]
    UrlWithSqlite,
}

/// The URL's scheme, lower case ("" when it has none): safe to name, unlike the rest.
fn scheme_of(url: &str) -> &'static str {
    let scheme = url
        .trim()
        .split_once("://")
        .map_or("", |(scheme, _)| scheme);
    ["postgres", "postgresql", "mysql", "mariadb"]
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(scheme))
        .unwrap_or("")
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

/// The configured database of `engine`, from `--database-url`/`DATABASE_URL`, then (for the
/// PostgreSQL-protocol engines) the `POSTGRES_*` keys; None means a throwaway one.
pub fn location(engine: Engine, url: Option<&str>) -> Result<Option<Location>, ConfigError> {
    let url = url.filter(|u| !u.trim().is_empty());
    match engine {
        Engine::Sqlite => match url {
            Some(_) => Err(ConfigError::UrlWithSqlite),
            None => Ok(None),
        },
        Engine::Mariadb => url
            .map(|url| {
                let hint = match scheme_of(url) {
                    "postgres" | "postgresql" => ": it is a postgres:// URL, drop --engine mariadb",
                    _ => "",
                };
                let options =
                    engines::mariadb::parse_url(url).ok_or(ConfigError::BadMysqlUrl(hint))?;
                Ok(Location::Mariadb {
                    options: Box::new(options),
                    scripts: None,
                    galera: None,
                })
            })
            .transpose(),
        Engine::Postgres | Engine::Cockroach | Engine::Yugabyte => {
            let options = match url {
                Some(url) => {
                    let hint = match scheme_of(url) {
                        "mysql" | "mariadb" => ": it is a mysql:// URL, add --engine mariadb",
                        _ => "",
                    };
                    let parsed = engines::postgres::parse_url(url);
                    Some(parsed.ok_or(ConfigError::BadDatabaseUrl(hint))?)
                }
                None => postgres_keys()?,
            };
            Ok(options.map(|options| Location::Postgres {
                options: Box::new(options),
                engine,
                pooler: None,
                follow: None,
                scripts: None,
            }))
        }
    }
}

/// Whether `url` is for `engine` (by its scheme), so that `--engine all` gives it only to the
/// engine it names.
pub fn url_fits(engine: Engine, url: &str) -> bool {
    let mysql = url.starts_with("mysql://") || url.starts_with("mariadb://");
    match engine {
        Engine::Mariadb => mysql,
        Engine::Sqlite => false,
        Engine::Postgres | Engine::Cockroach | Engine::Yugabyte => !mysql,
    }
}

/// The original project's `POSTGRES_*` keys, when any is set.
fn postgres_keys() -> Result<Option<PgConnectOptions>, ConfigError> {
    let configured = POSTGRES_KEYS
        .iter()
        .any(|key| std::env::var_os(key).is_some());
    if !configured {
        return Ok(None);
    }
    let var = |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.to_string());
    let port_text = var("POSTGRES_PORT", "5432");
    let port: u16 = port_text
        .parse()
        .map_err(|_| ConfigError::BadPort(port_text.clone()))?;
    Ok(Some(
        PgConnectOptions::new_without_pgpass()
            .host(&var("POSTGRES_HOST", "localhost"))
            .port(port)
            .username(&var("POSTGRES_USER", "postgres"))
            .password(&var("POSTGRES_PASSWORD", "postgres"))
            .database(&var("POSTGRES_DB", "counter")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_url_error_does_not_echo_the_url() {
        for url in [
            "mysql://bob:hunter2@x/y",
            "postgres://bob:hunter2@x:notaport/y",
        ] {
            let err = location(Engine::Postgres, Some(url)).unwrap_err();
            assert!(!err.to_string().contains("hunter2"));
        }
        let err = location(Engine::Mariadb, Some("postgres://bob:hunter2@x/y")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
