//! The server under load: its address, and the few non-increment calls the hammer makes
//! (read the count, reset it, ask which methods and isolation level it runs).

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde::Deserialize;

use super::HammerError;

/// A server's base URL (`http://host:port`, no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub base_url: String,
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
        let url = reqwest::Url::parse(&with_scheme).map_err(|_| bad())?;
        if url.scheme() != "http" || url.host_str().is_none() {
            return Err(bad());
        }
        Ok(Target {
            base_url: with_scheme,
        })
    }

    pub fn increment_url(&self, method: u32) -> String {
        format!("{}/api/v1/endpoint/counter/{method}/", self.base_url)
    }

    pub fn count_url(&self, id: i64) -> String {
        format!("{}/api/v1/endpoint/count/{id}/", self.base_url)
    }
}

/// What `/api/v1/info` tells about a counter server (absent on the original Django server).
#[derive(Debug, Clone, Deserialize)]
pub struct ServerInfo {
    pub isolation: String,
    pub effective_isolation: String,
    pub server_version: String,
    pub pool_size: u32,
    #[serde(default)]
    pub retry: u32,
    #[serde(default)]
    pub think_ms: u64,
    pub methods: Vec<InfoMethod>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InfoMethod {
    pub number: u32,
}

#[derive(Deserialize)]
struct CountBody {
    count: i64,
}

/// One line about why a request could not be made, without a backtrace of wrappers.
pub fn describe_transport_error(base: &str, err: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = err;
    while let Some(source) = root.source() {
        root = source;
    }
    if err.is_timeout() {
        format!("{base} did not answer in time")
    } else if err.is_connect() {
        format!("could not connect to {base}: {root}")
    } else {
        format!("{base} did not answer as an HTTP server: {root}")
    }
}

impl Target {
    fn transport(&self, err: &reqwest::Error) -> HammerError {
        HammerError::Connect(describe_transport_error(&self.base_url, err))
    }

    /// The counter's value; an absent row counts as 0.
    pub async fn read_count(&self, client: &Client, id: i64) -> Result<i64, HammerError> {
        let url = self.count_url(id);
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        match response.status() {
            StatusCode::NOT_FOUND => {
                // Our server answers JSON; a 404 page from something else means wrong peer.
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                if body["error"] == "not_found" {
                    Ok(0)
                } else {
                    Err(HammerError::Connect(format!(
                        "{url} answered 404: is this a counter server?"
                    )))
                }
            }
            status if status.is_success() => {
                let body: CountBody = response.json().await.map_err(|_| {
                    HammerError::Connect(format!("{url} did not answer a count as JSON"))
                })?;
                Ok(body.count)
            }
            status => Err(HammerError::Connect(format!(
                "reading the count at {url} failed with HTTP {status}"
            ))),
        }
    }

    /// Deletes the counter's row, so the run starts from nothing (and races to create it).
    pub async fn reset(&self, client: &Client, id: i64) -> Result<(), HammerError> {
        let url = self.count_url(id);
        let response = client
            .delete(&url)
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(HammerError::Connect(format!(
                "resetting {url} failed with HTTP {}",
                response.status()
            )))
        }
    }

    /// The server's settings, when it is a counter server (None for the original Django one).
    pub async fn info(&self, client: &Client) -> Result<Option<ServerInfo>, HammerError> {
        let url = format!("{}/api/v1/info", self.base_url);
        let response = client
            .get(&url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        if !response.status().is_success() {
            return Ok(None);
        }
        Ok(response.json().await.ok())
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
