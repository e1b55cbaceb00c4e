//! The server under load: its address, and the few non-increment calls the hammer makes
//! (read the count, reset it, ask which methods and isolation level it runs).

use std::time::Duration;

use axum::http::{Method, StatusCode, Uri};
use hyper::body::Bytes;
use serde::Deserialize;

use super::error::HammerError;
use super::http::{Endpoint, HttpError, Reply, send_on};
use crate::api::{self, CountRow, Info, codes};

/// Deadline of the hammer's own calls (info, reset, reads) unless `--timeout` says otherwise.
const CONTROL_DEADLINE: Duration = Duration::from_secs(10);

/// A reset's deadline: the server answers once every node of a cluster applied the delete,
/// and a Galera node applies a delete of a table without a primary key with a scan per row
/// (3,500 ledger entries: 6.2 s there, 0.02 s where it ran; seen past 10 s after a fault run).
const RESET_DEADLINE: Duration = Duration::from_secs(120);

/// A server's base URL (`http://host:port`, no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub base_url: String,
    pub endpoint: Endpoint,
    /// How long each of the hammer's own calls may take, connecting included.
    pub deadline: Duration,
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
        if uri.scheme_str() != Some("http") {
            return Err(bad());
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            let root = uri.authority().map_or(String::new(), |a| a.to_string());
            return Err(HammerError::Usage(format!(
                "-d {text:?}: give the server's address without a path ({} is added by \
                 hammer): -d http://{root}",
                uri.path()
            )));
        }
        let authority = uri.authority().ok_or_else(bad)?;
        let host = authority.host();
        if host.is_empty() {
            return Err(bad());
        }
        // The text after the host: `port()` reads an out-of-range number as no port at all.
        let written_port = authority.as_str().rsplit_once(':').map(|(_, port)| port);
        let written_port = written_port.filter(|_| authority.as_str() != host);
        let port = match (written_port, authority.port_u16()) {
            (None, _) => 80,
            (Some(_), Some(port)) if port > 0 => port,
            (Some(port), _) => {
                return Err(HammerError::Usage(format!(
                    "-d {text:?}: {port} is not a port (1 to 65535)"
                )));
            }
        };
        Ok(Target {
            base_url: with_scheme,
            endpoint: Endpoint {
                authority: format!("{host}:{port}"),
            },
            deadline: CONTROL_DEADLINE,
        })
    }

    /// One control call on a fresh connection, following redirects on this server (the
    /// original answers a path without its trailing slash with 301).
    async fn call(&self, method: Method, path: &str) -> Result<(StatusCode, Bytes), HammerError> {
        self.call_for_reply(method, path)
            .await
            .map(|reply| (reply.status, reply.body))
    }

    /// [`Target::call`], with the whole reply.
    async fn call_for_reply(&self, method: Method, path: &str) -> Result<Reply, HammerError> {
        let mut path = path.to_string();
        for _ in 0..MAX_REDIRECTS {
            let reply = send_on(
                &mut None,
                &self.endpoint,
                method.clone(),
                &path,
                self.deadline,
            )
            .await
            .map_err(|err| {
                HammerError::Connect(match err {
                    HttpError::Timeout => format!(
                        "{method} {}{path} got no answer within {:?}",
                        self.base_url, self.deadline
                    ),
                    err => describe_transport_error(&self.base_url, &err),
                })
            })?;
            match (reply.status.is_redirection(), &reply.location) {
                (true, Some(location)) => path = self.local_path(location)?,
                _ => return Ok(reply),
            }
        }
        Err(HammerError::Connect(format!(
            "{}{path} redirects too many times",
            self.base_url
        )))
    }

    /// The path of a redirect's target, which must be on this server.
    fn local_path(&self, location: &str) -> Result<String, HammerError> {
        if location.starts_with('/') {
            return Ok(location.to_string());
        }
        let elsewhere = || {
            HammerError::Connect(format!(
                "{} redirects to another server ({location}); give that one with -d",
                self.base_url
            ))
        };
        let uri: Uri = location.parse().map_err(|_| elsewhere())?;
        let same = uri.authority().is_some_and(|a| {
            format!("{}:{}", a.host(), a.port_u16().unwrap_or(80)) == self.endpoint.authority
        });
        match (same, uri.path_and_query()) {
            (true, Some(path)) => Ok(path.to_string()),
            _ => Err(elsewhere()),
        }
    }
}

/// How many redirects a control call follows.
const MAX_REDIRECTS: usize = 5;

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
    /// The counter's value; an absent row counts as 0. A counter server (`per_row`) is asked
    /// for the row; a server with only the original's surface, for the list of every row.
    pub async fn read_count(&self, id: i64, per_row: bool) -> Result<i64, HammerError> {
        let path = if per_row {
            api::count_path(id)
        } else {
            api::counts_path()
        };
        let url = format!("{}{path}", self.base_url);
        let (status, body) = self.call(Method::GET, &path).await?;
        let not_json = || HammerError::Connect(format!("{url} did not answer counts as JSON"));
        match status {
            StatusCode::NOT_FOUND if per_row => {
                // Our server answers JSON; a 404 page from something else means wrong peer.
                match serde_json::from_slice::<ErrorCode>(&body) {
                    Ok(code) if code.error == codes::NOT_FOUND => Ok(0),
                    _ => Err(HammerError::Connect(format!(
                        "{url} answered 404: is this a counter server?"
                    ))),
                }
            }
            status if status.is_success() && per_row => serde_json::from_slice::<CountRow>(&body)
                .map(|row| row.count)
                .map_err(|_| not_json()),
            status if status.is_success() => {
                let rows: Vec<CountRow> = serde_json::from_slice(&body).map_err(|_| not_json())?;
                Ok(rows
                    .iter()
                    .find(|row| row.id == id)
                    .map_or(0, |row| row.count))
            }
            status => Err(HammerError::Connect(format!(
                "reading the count at {url} failed with HTTP {status}"
            ))),
        }
    }

    /// Deletes the counter's row, so the run starts from nothing (and races to create it). A
    /// server without resets (the original) is a usage error: nothing was sent but this.
    pub async fn reset(&self, id: i64) -> Result<(), HammerError> {
        let path = api::count_path(id);
        let patient = Target {
            deadline: self.deadline.max(RESET_DEADLINE),
            ..self.clone()
        };
        let (status, _) = patient.call(Method::DELETE, &path).await?;
        match status {
            status if status.is_success() => Ok(()),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
                Err(HammerError::Usage(format!(
                    "{} cannot reset a counter (DELETE {path} answered {}): run without --reset, and the change is measured from the current value",
                    self.base_url,
                    status.as_u16()
                )))
            }
            status => Err(HammerError::Connect(format!(
                "resetting {}{path} failed with HTTP {status}",
                self.base_url
            ))),
        }
    }

    /// The verbs `path` takes, as a 405 to `method` says (its `Allow` header).
    pub async fn allowed(&self, method: Method, path: &str) -> Result<Option<String>, HammerError> {
        let reply = self.call_for_reply(method, path).await?;
        Ok(reply
            .allow
            .filter(|_| reply.status == StatusCode::METHOD_NOT_ALLOWED))
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
        let words = |text: &str| match Target::parse(text) {
            Err(HammerError::Usage(words)) => words,
            other => panic!("{text}: {other:?}"),
        };
        let path = words("http://127.0.0.1:18600/api/v1/");
        assert!(
            path.contains("without a path") && path.contains("-d http://127.0.0.1:18600"),
            "{path}"
        );
        assert!(words("127.0.0.1:99999").contains("99999 is not a port"));
        assert!(words("127.0.0.1:0").contains("0 is not a port"));
    }
}
