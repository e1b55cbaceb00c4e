//! Patroni's REST API, as counter uses it: which node is the primary, and its timeline. A
//! plain HTTP/1.0 GET on loopback; Patroni answers 200 on `/primary` only on the leader (and,
//! for a moment, on a node being promoted, or on a leader whose postmaster is down: a
//! connection's `pg_is_in_recovery()` has the last word).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A node's addresses.
#[derive(Debug, Clone)]
pub struct NodeAddr {
    pub name: String,
    pub pg_port: u16,
    pub rest_port: u16,
}

/// Where a replicated cluster's nodes are: what connections ask to find the primary.
#[derive(Debug, Clone)]
pub struct HaView {
    pub nodes: Vec<NodeAddr>,
    /// "Patroni and etcd, 2 nodes, async replication", for the results.
    pub description: String,
}

const TIMEOUT: Duration = Duration::from_millis(500);

impl HaView {
    /// The node Patroni names primary (200 on `/primary`), first found.
    pub async fn primary(&self) -> Option<&NodeAddr> {
        for node in &self.nodes {
            if get(node.rest_port, "/primary")
                .await
                .map(|(status, _)| status)
                == Some(200)
            {
                return Some(node);
            }
        }
        None
    }

    /// The same, blocking.
    pub fn primary_blocking(&self) -> Option<usize> {
        let status = |node: &NodeAddr| get_blocking(node.rest_port, "/primary").map(|r| r.0);
        self.nodes.iter().position(|node| status(node) == Some(200))
    }
}

/// Status and body of `GET path` on the REST API at `port`; None when it does not answer.
pub async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.ok()?;
        parse(&answer)
    };
    tokio::time::timeout(TIMEOUT, exchange).await.ok().flatten()
}

/// [`get`], blocking.
pub fn get_blocking(port: u16, path: &str) -> Option<(u16, String)> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT).ok()?;
    stream.set_read_timeout(Some(TIMEOUT)).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    parse(&answer)
}

fn parse(answer: &str) -> Option<(u16, String)> {
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Some((status, body.to_string()))
}
