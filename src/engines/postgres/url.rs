//! PostgreSQL URLs: parsed without ever echoing them (they may hold a password), and shown
//! to humans without the password.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

/// Parses a PostgreSQL URL. The error deliberately carries no part of the URL: it may hold a
/// password.
pub fn parse_url(url: &str) -> Option<PgConnectOptions> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return None;
    }
    PgConnectOptions::from_str(url).ok()
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
    use super::{parse_url, redact_url};

    #[test]
    fn redacted_url_never_contains_the_password() {
        let options = parse_url("postgres://alice:s3cret@db.example:6543/shop").unwrap();
        let shown = redact_url(&options);
        assert_eq!(shown, "postgres://alice@db.example:6543/shop");
        assert!(!shown.contains("s3cret"));
    }
}
