//! How the flags' values are read: levels as people write them, engines and methods by name
//! or `all`, seconds, engine options. Each error is one line that lists what is accepted.

use std::time::Duration;

use crate::engines::EngineOption;
use crate::model::{Engine, Isolation, MethodId};

/// An engine for the matrix, or every engine this machine can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    One(Engine),
    All,
}

pub(super) fn parse_engines(text: &str) -> Result<EngineChoice, String> {
    use clap::ValueEnum;
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(EngineChoice::All);
    }
    Engine::from_str(text.trim(), true)
        .map(EngineChoice::One)
        .map_err(|_| "expected postgres, sqlite, mariadb, cockroach, yugabyte or all".to_string())
}

/// A level as people write it: `repeatable-read`, `repeatable read`, `REPEATABLE_READ`, ...
pub(super) fn parse_isolation(text: &str) -> Result<Isolation, String> {
    let spaced = text.trim().replace(['-', '_'], " ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    Isolation::from_sql_name(&words.join(" ")).ok_or_else(|| {
        format!(
            "unknown isolation level {text:?}: expected read-uncommitted, read-committed, \
             repeatable-read or serializable (spaces, underscores and any case also work)"
        )
    })
}

pub(super) fn parse_engine_option(text: &str) -> Result<EngineOption, String> {
    EngineOption::parse(text)
}

/// A method for the matrix, or every registered one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodChoice {
    One(MethodId),
    All,
}

pub(super) fn parse_method_choice(text: &str) -> Result<MethodChoice, String> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(MethodChoice::All);
    }
    parse_method(text).map(MethodChoice::One)
}

pub(super) fn parse_method(text: &str) -> Result<MethodId, String> {
    text.parse()
        .map_err(|err: crate::model::UnknownMethod| err.to_string())
}

pub(super) fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| "not a number".to_string())?;
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
        return Err("must be more than 0 and at most 86400 seconds".to_string());
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_accepted_as_people_write_them() {
        for text in [
            "repeatable-read",
            "repeatable read",
            "REPEATABLE READ",
            "repeatable_read",
            " Repeatable  Read ",
        ] {
            assert_eq!(
                parse_isolation(text),
                Ok(Isolation::RepeatableRead),
                "{text}"
            );
        }
        assert_eq!(
            parse_isolation("READ_UNCOMMITTED"),
            Ok(Isolation::ReadUncommitted)
        );
        assert_eq!(parse_isolation("serializable"), Ok(Isolation::Serializable));
        let err = parse_isolation("snapshot").unwrap_err();
        assert!(
            err.contains("read-committed") && err.contains("serializable"),
            "{err}"
        );
    }
}
