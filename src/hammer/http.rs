//! A small HTTP/1.1 client over hyper: one keep-alive connection per worker and no shared
//! pool, the way wrk does it. A load client must cost less CPU than the server it measures;
//! a general-purpose client with a shared connection pool cost a third of the throughput here.

use std::time::Duration;

use axum::http::header::{ALLOW, CONTENT_LENGTH, HOST, LOCATION};
use axum::http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The host name did not resolve: nothing was sent.
    #[error("failed to resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// No connection could be made: nothing was sent.
    #[error("{0}")]
    Connect(std::io::Error),
    /// The connection was closed before the request was written: nothing was sent.
    #[error("the connection was closed")]
    Closed,
    /// No complete answer within the deadline: the request's fate is unknown.
    #[error("no answer in time")]
    Timeout,
    /// The peer broke the protocol or the connection mid-answer (not HTTP, or a reset).
    #[error("{0}")]
    Protocol(#[from] hyper::Error),
}

impl HttpError {
    /// Whether the request certainly never reached the server.
    pub fn never_sent(&self) -> bool {
        matches!(
            self,
            HttpError::Resolve { .. } | HttpError::Connect(_) | HttpError::Closed
        )
    }
}

/// An HTTP answer: its status and body, and the two headers the hammer acts on.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
    /// Where a redirect points.
    pub location: Option<String>,
    /// The verbs a 405 says the path takes.
    pub allow: Option<String>,
}

/// Where to connect, and the Host header to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, for connecting and for the Host header.
    pub authority: String,
}

/// One open HTTP/1.1 connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Connection {
    pub async fn open(endpoint: &Endpoint, deadline: Duration) -> Result<Connection, HttpError> {
        let connect = async {
            let mut addresses =
                tokio::net::lookup_host(&endpoint.authority)
                    .await
                    .map_err(|source| HttpError::Resolve {
                        host: endpoint.authority.clone(),
                        source,
                    })?;
            let address = addresses.next().ok_or_else(|| HttpError::Resolve {
                host: endpoint.authority.clone(),
                source: std::io::Error::other("no address"),
            })?;
            TcpStream::connect(address)
                .await
                .map_err(HttpError::Connect)
        };
        let stream = tokio::time::timeout(deadline, connect)
            .await
            .map_err(|_| HttpError::Connect(std::io::ErrorKind::TimedOut.into()))??;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            host: endpoint.authority.clone(),
        })
    }

    /// Sends one request without a body and reads the whole answer.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        deadline: Duration,
    ) -> Result<Reply, HttpError> {
        self.send_with(method, path, &[], Bytes::new(), deadline)
            .await
    }

    /// Sends one request with `headers` and `body` and reads the whole answer.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: Bytes,
        deadline: Duration,
    ) -> Result<Reply, HttpError> {
        let exchange = async {
            if self.sender.ready().await.is_err() {
                return Err(HttpError::Closed);
            }
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header(HOST, &self.host)
                .header(CONTENT_LENGTH, body.len());
            for (name, value) in headers {
                request = request.header(name.as_str(), value.as_str());
            }
            let request = request
                .body(Full::new(body))
                .map_err(|_| HttpError::Closed)?;
            let response = self.sender.send_request(request).await?;
            let status = response.status();
            let header = |name| {
                let value = response.headers().get(name)?;
                value.to_str().ok().map(str::to_string)
            };
            let (location, allow) = (header(LOCATION), header(ALLOW));
            let body = response.into_body().collect().await?.to_bytes();
            Ok(Reply {
                status,
                body,
                location,
                allow,
            })
        };
        tokio::time::timeout(deadline, exchange)
            .await
            .map_err(|_| HttpError::Timeout)?
    }
}

/// Sends on `slot`'s connection, opening one when there is none; a connection that the server
/// closed before the request went out is replaced once. After any failure the slot is emptied,
/// so the next request starts on a fresh connection.
pub async fn send_on(
    slot: &mut Option<Connection>,
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    deadline: Duration,
) -> Result<Reply, HttpError> {
    for attempt in 0..2 {
        let connection = match slot {
            Some(connection) => connection,
            None => slot.insert(Connection::open(endpoint, deadline).await?),
        };
        match connection.send(method.clone(), path, deadline).await {
            Ok(answer) => return Ok(answer),
            Err(HttpError::Closed) if attempt == 0 => *slot = None,
            Err(err) => {
                *slot = None;
                return Err(err);
            }
        }
    }
    Err(HttpError::Closed)
}
