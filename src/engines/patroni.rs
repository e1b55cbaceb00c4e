//! Patroni's REST API, as counter uses it: which node is the primary, its timeline, and the
//! members of an existing cluster (`GET /cluster`). A plain HTTP/1.0 GET; Patroni answers 200
//! on `/primary` only on the leader (and,
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
    /// Where its PostgreSQL listens.
    pub host: String,
    pub pg_port: u16,
    /// Where its REST API listens.
    pub rest_host: String,
    pub rest_port: u16,
}

impl NodeAddr {
    /// A node of a throwaway cluster: everything on loopback.
    pub fn loopback(name: String, pg_port: u16, rest_port: u16) -> NodeAddr {
        NodeAddr {
            name,
            host: LOOPBACK.to_string(),
            pg_port,
            rest_host: LOOPBACK.to_string(),
            rest_port,
        }
    }
}

const LOOPBACK: &str = "127.0.0.1";

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
            if get(&node.rest_host, node.rest_port, "/primary")
                .await
                .map(|(status, _)| status)
                == Some(200)
            {
                return Some(node);
            }
        }
        None
    }
}

/// Status and body of `GET path` on the REST API at `host:port`; None when it does not answer.
pub async fn get(host: &str, port: u16, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.ok()?;
        parse(&answer)
    };
    tokio::time::timeout(TIMEOUT, exchange).await.ok().flatten()
}

/// [`get`], blocking.
pub fn get_blocking(host: &str, port: u16, path: &str) -> Option<(u16, String)> {
    use std::net::ToSocketAddrs;
    let address = (host, port).to_socket_addrs().ok()?.next()?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT).ok()?;
    stream.set_read_timeout(Some(TIMEOUT)).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
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

/// An existing Patroni cluster's members, from the first of `urls` (REST API base URLs, such
/// as `http://10.0.0.5:8008`) that answers `GET /cluster`. Blocking.
pub fn discover(urls: &[String]) -> Result<HaView, String> {
    let mut last = String::from("no --patroni-url given");
    for url in urls {
        let Some((host, port)) = host_port(url) else {
            last = format!("{url:?} is not an http://host:port URL");
            continue;
        };
        let Some((200, body)) = get_blocking(&host, port, "/cluster") else {
            last = format!("{url} did not answer GET /cluster with 200");
            continue;
        };
        let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let members = value["members"].as_array().cloned().unwrap_or_default();
        let nodes: Vec<NodeAddr> = members.iter().filter_map(member).collect();
        if nodes.is_empty() {
            last = format!("{url} named no members");
            continue;
        }
        return Ok(HaView {
            description: format!("the Patroni cluster at {url}, {} members", nodes.len()),
            nodes,
        });
    }
    Err(last)
}

/// How many of the standbys named `names` stream from the primary whose `GET /patroni`
/// answered `body` (with `sync`, as its synchronous standby). pg_basebackup's WAL stream also
/// says "streaming": only the nodes' own count.
pub fn streaming_standbys(body: &str, names: &[&str], sync: bool) -> usize {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let replicas = value["replication"].as_array().cloned().unwrap_or_default();
    replicas
        .iter()
        .filter(|r| names.contains(&r["application_name"].as_str().unwrap_or("")))
        .filter(|r| r["state"] == "streaming")
        .filter(|r| !sync || r["sync_state"] == "sync")
        .count()
}

/// One member of `GET /cluster`: its name, PostgreSQL address and REST address.
fn member(value: &serde_json::Value) -> Option<NodeAddr> {
    let (rest_host, rest_port) = host_port(value["api_url"].as_str()?)?;
    Some(NodeAddr {
        name: value["name"].as_str()?.to_string(),
        host: value["host"].as_str()?.to_string(),
        pg_port: u16::try_from(value["port"].as_u64()?).ok()?,
        rest_host,
        rest_port,
    })
}

/// `http://host:port/anything` -> (host, port).
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    Some((
        host.trim_matches(['[', ']']).to_string(),
        port.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_come_from_patronis_cluster_answer() {
        let body = r#"{"members": [{"name": "node0", "role": "leader", "state": "running", "api_url": "http://10.0.0.5:8008/patroni", "host": "10.0.0.5", "port": 5432, "timeline": 3}]}"#;
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let node = member(&value["members"][0]).unwrap();
        assert_eq!(
            (node.name.as_str(), node.host.as_str(), node.pg_port),
            ("node0", "10.0.0.5", 5432)
        );
        assert_eq!(
            (node.rest_host.as_str(), node.rest_port),
            ("10.0.0.5", 8008)
        );
        assert_eq!(
            host_port("http://[::1]:8008"),
            Some(("::1".to_string(), 8008))
        );
        assert_eq!(host_port("https://x:1"), None);
        assert_eq!(host_port("http://x"), None);
    }

    #[test]
    fn only_the_nodes_own_streams_count_as_standbys() {
        let body = r#"{"replication": [
            {"application_name": "pg_basebackup", "state": "streaming", "sync_state": "async"},
            {"application_name": "node1", "state": "streaming", "sync_state": "async"},
            {"application_name": "node2", "state": "catchup", "sync_state": "sync"}]}"#;
        let names = ["node0", "node1", "node2"];
        assert_eq!(streaming_standbys(body, &names, false), 1);
        assert_eq!(streaming_standbys(body, &names, true), 0);
        assert_eq!(streaming_standbys("{}", &names, false), 0);
    }
}
