//! Hostile and careless clients: connections that send their headers one byte a second, a
//! body far larger than anything the API reads, and a reset that lands between an
//! increment's read and its write.

use std::time::{Duration, Instant};

use counter::model::Isolation;
use counter::server::AppState;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{fresh_database, start_server, start_server_with, thinking};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_stop_others_and_are_cut_off() {
    let _cpu = crate::support::busy().await;
    let limit = crate::support::raise_open_file_limit();
    // Each slow connection costs a file here on both of its ends.
    let slow = 2_000u64.min(limit.saturating_sub(1_024) / 2) as usize;
    assert!(
        slow >= 500,
        "open-file limit {limit} is too low for this test"
    );
    let server = start_server(Isolation::ReadCommitted, 4).await;
    let addr = server.handle.addr;
    let mut slowpokes = tokio::task::JoinSet::new();
    for _ in 0..slow {
        slowpokes.spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
            let started = Instant::now();
            // One byte a second of a request line that never ends; the server must close
            // the connection at its header deadline.
            for byte in b"GET /api/v1/endpoint/counter/3/ HTTP/1.1\r\nHost: x\r\n"
                .iter()
                .cycle()
            {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                let mut buffer = [0u8; 256];
                match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(_)) => {} // an error answer, then the close
                    Err(_) => {}    // still open
                }
                if started.elapsed() > Duration::from_secs(40) {
                    return None;
                }
            }
            Some(started.elapsed())
        });
    }
    // Meanwhile ordinary clients are served, promptly.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    for k in 1..=20 {
        let (status, body) = server.increment(3).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["count"], k);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "20 increments took {:?} beside {slow} slow connections",
        started.elapsed()
    );
    let mut cut_off = 0;
    while let Some(ended) = slowpokes.join_next().await {
        if let Some(after) = ended.unwrap() {
            assert!(after < Duration::from_secs(30), "cut off after {after:?}");
            cut_off += 1;
        }
    }
    assert_eq!(
        cut_off, slow,
        "every slow connection was closed by the server"
    );
    assert_eq!(
        server.count(3).await,
        Some(20),
        "the slow requests changed nothing"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_gets_413_and_changes_nothing() {
    let _cpu = crate::support::busy().await;
    let server = start_server(Isolation::ReadCommitted, 2).await;
    let response = server
        .client
        .post(server.url("/api/v1/endpoint/counter/3/"))
        .body(vec![b'x'; 1 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large", "{body}");
    assert_eq!(server.count(3).await, None, "nothing was done");
    // A small body is no reason to refuse (and is not read).
    let response = server
        .client
        .post(server.url("/api/v1/endpoint/counter/3/"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

/// Sends `head` then `body` on a raw connection and returns the status line's code and the
/// whole answer (or 0 when the server answered nothing within 15 s).
async fn raw_exchange(
    addr: std::net::SocketAddr,
    head: &str,
    body: &[u8],
    hold: bool,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    if !hold {
        stream.shutdown().await.unwrap();
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            let complete = answer.ends_with(b"}") || answer.ends_with(b"}\r\n0\r\n\r\n");
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && complete {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer).to_string();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok());
    (read.map(|_| code.unwrap_or(0)).unwrap_or(0), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_large_body_and_an_incomplete_one_change_nothing() {
    let _cpu = crate::support::busy().await;
    let server = start_server(Isolation::ReadCommitted, 2).await;
    let addr = server.handle.addr;
    // 70 KB in chunks of 1 KB, no Content-Length: refused once past the limit.
    let mut chunked = Vec::new();
    for _ in 0..70 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b'x'; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /api/v1/endpoint/counter/3/ HTTP/1.1\r\nHost: x\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let (code, answer) = raw_exchange(addr, head, &chunked, false).await;
    assert_eq!(code, 413, "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert_eq!(server.count(3).await, None, "nothing was done");
    // Content-Length 100 and 3 bytes sent, the connection held open: nothing runs until the
    // body is complete, and it never is.
    let head = "POST /api/v1/endpoint/counter/3/ HTTP/1.1\r\nHost: x\r\n\
                Content-Length: 100\r\n\r\n";
    let held = tokio::spawn(raw_exchange(addr, head, b"abc", true));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        server.count(3).await,
        None,
        "incremented before its body arrived"
    );
    let (code, answer) = held.await.unwrap();
    assert_eq!(code, 408, "{answer}");
    assert!(answer.contains("incomplete_body"), "{answer}");
    // The same body cut short by the client: a 400, nothing done.
    let (code, answer) = raw_exchange(addr, head, b"abc", false).await;
    assert_eq!(code, 400, "{answer}");
    assert_eq!(server.count(3).await, None, "nothing was done");
    // A small chunked body is no reason to refuse.
    let head = "POST /api/v1/endpoint/counter/3/ HTTP/1.1\r\nHost: x\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let (code, answer) = raw_exchange(addr, head, b"2\r\n{}\r\n0\r\n\r\n", true).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(server.count(3).await, Some(1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_between_read_and_write_is_refused_not_acknowledged() {
    let _cpu = crate::support::busy().await;
    let options = fresh_database().await;
    // 400 ms between the read and the write: the reset lands in between, for certain.
    let open = thinking(Isolation::ReadCommitted, 4, 400);
    let server = start_server_with(&options, open, |b| AppState::with_backend(b, 0)).await;
    let (status, _) = server.increment(4).await;
    assert_eq!(status, StatusCode::OK);
    let increment = {
        let client = server.client.clone();
        let url = server.url("/api/v1/endpoint/counter/4/");
        tokio::spawn(async move {
            let response = client.post(url).send().await.unwrap();
            let status = response.status();
            (status, response.json::<serde_json::Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, deleted) = server
        .call(reqwest::Method::DELETE, "/api/v1/endpoint/count/4/")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["deleted"], 1);
    let (status, body) = increment.await.unwrap();
    // Its UPDATE matched no row: refused, never acknowledged.
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "row_gone", "{body}");
    assert_eq!(server.count(4).await, None, "nothing was written");
    server.stop().await;
}
