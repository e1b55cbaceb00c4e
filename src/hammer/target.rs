//! The server under load: its address, and the few non-increment calls the hammer makes
//! (read the count, reset it, ask which methods and isolation level it runs).

use std::time::Duration;

use axum::http::{Method, StatusCode, Uri};
use hyper::body::Bytes;
use serde::Deserialize;

use super::error::HammerError;
use super::http::{Endpoint, HttpError, send_on};
use crate::api::{self, Info, codes};

/// Deadline of the hammer's own calls (info, reset, reads), not of the increments.
const CONTROL_DEADLINE: Duration = Duration::from_secs(10);

/// A server's base URL (`http://host:port`, no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub base_url: String,
    pub endpoint: Endpoint,
}

impl Target {
    /// Accepts the original script's `host:port` and full `http://` base URLs.
    pub fn parse(text: &str) -> Result<Target, HammerError> {
        let text = text.trim().trim_end_matches('/');
        let bad =
            || HammerError::Usage(format!("-d {text:?}: expected host:port or an http:// URL"));
        if text.is_empty() || text.contains(char::is_whitespace) {
            return Err(bad());
        }
        if text.starts_with("https://") {
            return Err(HammerError::Usage(
                "https is not supported: counter talks plain HTTP on loopback or a LAN".into(),
            ));
        }
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("http://{text}")
        };
        let uri: Uri = with_scheme.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("http") || !matches!(uri.path(), "" | "/") {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?;
        let host = authority.host();
        if host.is_empty() {
            return Err(bad());
        }
        let port = authority.port_u16().unwrap_or(80);
        Ok(Target {
            base_url: with_scheme,
            endpoint: Endpoint {
                authority: format!("{host}:{port}"),
            },
        })
    }

    /// One control call on a fresh connection.
    async fn call(&self, method: Method, path: &str) -> Result<(StatusCode, Bytes), HammerError> {
        send_on(&mut None, &self.endpoint, method, path, CONTROL_DEADLINE)
            .await
            .map_err(|err| HammerError::Connect(describe_transport_error(&self.base_url, &err)))
    }
}

#[derive(Deserialize)]
struct CountBody {
    count: i64,
}

#[derive(Deserialize)]
struct ErrorCode {
    error: String,
}

/// One line about why a request could not be made.
pub fn describe_transport_error(base: &str, err: &HttpError) -> String {
    match err {
        HttpError::Timeout => format!("{base} did not answer in time"),
        HttpError::Resolve { .. } | HttpError::Connect(_) | HttpError::Closed => {
            format!("could not connect to {base}: {err}")
        }
        HttpError::Protocol(_) => format!("{base} did not answer as an HTTP server: {err}"),
    }
}

impl Target {
    /// The counter's value; an absent row counts as 0.
    pub async fn read_count(&self, id: i64) -> Result<i64, HammerError> {
        let path = api::count_path(id);
        let url = format!("{}{path}", self.base_url);
        let (status, body) = self.call(Method::GET, &path).await?;
        match status {
            StatusCode::NOT_FOUND => {
                // Our server answers JSON; a 404 page from something else means wrong peer.
                match serde_json::from_slice::<ErrorCode>(&body) {
                    Ok(code) if code.error == codes::NOT_FOUND => Ok(0),
                    _ => Err(HammerError::Connect(format!(
                        "{url} answered 404: is this a counter server?"
                    ))),
                }
            }
            status if status.is_success() => serde_json::from_slice::<CountBody>(&body)
                .map(|b| b.count)
                .map_err(|_| HammerError::Connect(format!("{url} did not answer a count as JSON"))),
            status => Err(HammerError::Connect(format!(
                "reading the count at {url} failed with HTTP {status}"
            ))),
        }
    }

    /// Deletes the counter's row, so the run starts from nothing (and races to create it).
    pub async fn reset(&self, id: i64) -> Result<(), HammerError> {
        let path = api::count_path(id);
        let (status, _) = self.call(Method::DELETE, &path).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(HammerError::Connect(format!(
                "resetting {}{path} failed with HTTP {status}",
                self.base_url
            )))
        }
    }

    /// Waits until the server has no increment of row `id` in progress, asking every 20 ms,
    /// for at most `patience`; returns how many were still in progress then (0 at once for a
    /// server that does not say).
    pub async fn wait_until_settled(
        &self,
        id: i64,
        patience: Duration,
    ) -> Result<u64, HammerError> {
        let started = std::time::Instant::now();
        loop {
            let Some(info) = self.info().await? else {
                return Ok(0);
            };
            let running = info.in_flight.get(&id.to_string()).copied().unwrap_or(0);
            if running == 0 || started.elapsed() >= patience {
                return Ok(running);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's settings, when it is a counter server (None for the original Django one).
    pub async fn info(&self) -> Result<Option<Info>, HammerError> {
        let (status, body) = self.call(Method::GET, api::INFO_PATH).await?;
        if !status.is_success() {
            return Ok(None);
        }
        Ok(serde_json::from_slice(&body).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_accept_host_port_and_urls() {
        assert_eq!(
            Target::parse("127.0.0.1:8000").unwrap().base_url,
            "http://127.0.0.1:8000"
        );
        assert_eq!(
            Target::parse("http://localhost:8000/").unwrap().base_url,
            "http://localhost:8000"
        );
        assert!(Target::parse("").is_err());
        assert!(Target::parse("https://x:1").is_err());
        assert!(Target::parse("ftp://x:1").is_err());
        assert!(Target::parse("a b:1").is_err());
    }
}
