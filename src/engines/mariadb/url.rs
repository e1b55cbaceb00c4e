//! MariaDB/MySQL URLs: parsed without ever echoing them (they may hold a password), and
//! shown to humans without the password.

use std::str::FromStr;

use sqlx::mysql::MySqlConnectOptions;

/// Parses a MariaDB/MySQL URL (`mysql://` or `mariadb://`); None when it is not one. Like
/// PostgreSQL's, the error never repeats the URL.
pub fn parse_url(url: &str) -> Option<MySqlConnectOptions> {
    let url = url
        .strip_prefix("mariadb://")
        .map(|rest| format!("mysql://{rest}"))
        .unwrap_or_else(|| url.to_string());
    if !url.starts_with("mysql://") {
        return None;
    }
    MySqlConnectOptions::from_str(&url).ok()
}

/// The URL to show humans: never the password.
pub fn redact(options: &MySqlConnectOptions) -> String {
    let place = options
        .get_socket()
        .map(|s| s.display().to_string())
        .unwrap_or_else(|| format!("{}:{}", options.get_host(), options.get_port()));
    format!("mysql://{}@{place}", options.get_username())
}
