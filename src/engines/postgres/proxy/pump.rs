//! One proxied connection after its start-up packet: the client's messages framed (each step
//! shown to the hooks, held if they say so, and an autocommit write split if they ask), the
//! server's scanned (answers matched to steps) and forwarded as they came, or message by
//! message when a split may drop some.

use std::io;
use std::sync::Mutex;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::Hooks;
use super::frame::Framer;
use super::scan::Scanner;
use super::split::{Pass, SPLIT_BEGIN, SPLIT_COMMIT, SPLIT_ROLLBACK, Split, SyncAnswered};
use super::startup::{CANCEL_REQUEST, Packet};
use super::steps::{ClientSide, Heard, Outstanding, Protocol, Sent, Step};

/// A simple-protocol `Query` message for `sql`.
fn query_message(sql: &str) -> Vec<u8> {
    let mut message = vec![b'Q'];
    message.extend_from_slice(&(sql.len() as u32 + 5).to_be_bytes());
    message.extend_from_slice(sql.as_bytes());
    message.push(0);
    message
}

/// A statement the proxy sends itself.
fn proxys_own(sql: &str) -> Step {
    Step {
        sql: sql.to_string(),
        protocol: Protocol::Simple,
        by_proxy: true,
        values: Vec::new(),
    }
}

pub(super) async fn pump<S>(
    client: TcpStream,
    server: S,
    first: Packet,
    conn: u64,
    hooks: &dyn Hooks,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = tokio::io::split(server);
    server_write.write_all(&first.0).await?;
    let cancel_only = first.code() == CANCEL_REQUEST;
    let may_split = hooks.may_split();
    let outstanding = Mutex::new(Outstanding::default());
    let split = Mutex::new(Split::default());
    // What the server side tells the client side waiting inside a split.
    let (answered_tx, mut answered_rx) = mpsc::unbounded_channel::<SyncAnswered>();
    let lock_split = || {
        split
            .lock()
            .map_err(|_| io::Error::other("split state poisoned"))
    };
    let sent = |step: Step| {
        if let Ok(mut outstanding) = outstanding.lock() {
            outstanding.sent(step);
        }
    };
    let upstream = async {
        let mut framer = Framer::default();
        let mut client_side = ClientSide::new(hooks.wants_values());
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = client_read.read(&mut buffer).await?;
            if read == 0 || cancel_only {
                break;
            }
            framer.feed(&buffer[..read]);
            // Whole messages go on in runs, untouched; a held step splits the run.
            let mut forward_from = 0;
            while let Some(span) = framer.next_message().map_err(io::Error::other)? {
                let kind = framer.message(span).kind;
                match client_side.step(&framer.message(span)) {
                    Sent::Begins(mut step) => {
                        // Begun at its Parse: its values are in the Bind after it, when the
                        // client sent both at once (psycopg 3, a pipeline).
                        if kind == b'P'
                            && let Some(next) = framer.peek()
                        {
                            step.values = client_side.values_of(&next);
                        }
                        let idle = may_split
                            && lock_split()?.idle()
                            && outstanding.lock().is_ok_and(|o| o.is_empty());
                        let split_it = idle && hooks.splits(conn, &step);
                        if split_it {
                            server_write
                                .write_all(framer.bytes(forward_from, span.start))
                                .await?;
                            forward_from = span.start;
                            let begin = proxys_own(SPLIT_BEGIN);
                            if let Some(hold) = hooks.before(conn, &begin) {
                                hold.await;
                            }
                            sent(begin);
                            if let Ok(mut outstanding) = outstanding.lock() {
                                outstanding.synced();
                            }
                            lock_split()?.open();
                            server_write.write_all(&query_message(SPLIT_BEGIN)).await?;
                            match answered_rx.recv().await {
                                Some(SyncAnswered::GoOn) => {}
                                _ => return Err(io::Error::other("the proxy's BEGIN failed")),
                            }
                        }
                        if let Some(hold) = hooks.before(conn, &step) {
                            // What came before the step reaches the server first.
                            server_write
                                .write_all(framer.bytes(forward_from, span.start))
                                .await?;
                            forward_from = span.start;
                            hold.await;
                        }
                        let simple = step.protocol == Protocol::Simple;
                        sent(step);
                        if simple {
                            lock_split()?.executed();
                        }
                    }
                    Sent::Executes => {
                        if let Ok(mut outstanding) = outstanding.lock() {
                            outstanding.executed();
                        }
                        lock_split()?.executed();
                    }
                    Sent::Other if kind == b'B' => {
                        // The Bind of a step begun at its Parse: its values, for its answer.
                        let values = client_side.values_of(&framer.message(span));
                        if let Ok(mut outstanding) = outstanding.lock() {
                            outstanding.bound(values);
                        }
                    }
                    Sent::Other => {}
                }
                if matches!(kind, b'Q' | b'S' | b'F')
                    && let Ok(mut outstanding) = outstanding.lock()
                {
                    outstanding.synced();
                }
                // Inside a split, each `ReadyForQuery` the client asks for is waited for:
                // the one that ends the write is held while the proxy commits.
                if matches!(kind, b'Q' | b'S') && lock_split()?.open_for_client() {
                    server_write
                        .write_all(framer.bytes(forward_from, span.end))
                        .await?;
                    forward_from = span.end;
                    loop {
                        match answered_rx.recv().await {
                            Some(SyncAnswered::GoOn) => break,
                            Some(SyncAnswered::Ended(status)) => {
                                let end = proxys_own(match status {
                                    b'T' => SPLIT_COMMIT,
                                    _ => SPLIT_ROLLBACK,
                                });
                                if let Some(hold) = hooks.before(conn, &end) {
                                    hold.await;
                                }
                                let message = query_message(&end.sql);
                                sent(end);
                                if let Ok(mut outstanding) = outstanding.lock() {
                                    outstanding.synced();
                                }
                                lock_split()?.close();
                                server_write.write_all(&message).await?;
                            }
                            None => return Err(io::Error::other("the server side ended")),
                        }
                    }
                }
            }
            let whole = framer.cut_up_to();
            if whole > forward_from {
                server_write
                    .write_all(framer.bytes(forward_from, whole))
                    .await?;
            }
        }
        let _ = server_write.shutdown().await;
        Ok::<(), io::Error>(())
    };
    let downstream = async {
        let mut scanner = Scanner::new(hooks.wants_rows());
        let mut buffer = vec![0u8; 64 * 1024];
        let mut edited = Vec::new();
        loop {
            let read = server_read.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            let mut whole = |kind: u8, body: &[u8]| {
                let heard = match outstanding.lock() {
                    Ok(mut outstanding) => outstanding.heard(kind, body),
                    Err(_) => Vec::new(),
                };
                for heard in heard {
                    match heard {
                        Heard::Backend { pid, secret } => hooks.backend(conn, pid, &secret),
                        Heard::Answered(step, answer) => hooks.answered(conn, &step, &answer),
                        Heard::Ready(status) => hooks.ready(conn, status),
                    }
                }
                if !may_split {
                    return Pass::Forward;
                }
                let (pass, answered) = match split.lock() {
                    Ok(mut split) => split.heard(kind, body),
                    Err(_) => (Pass::Forward, None),
                };
                if let Some(answered) = answered {
                    let _ = answered_tx.send(answered);
                }
                pass
            };
            if may_split {
                edited.clear();
                scanner.edit(&buffer[..read], &mut edited, &mut whole);
                client_write.write_all(&edited).await?;
            } else {
                scanner.feed(&buffer[..read], whole);
                client_write.write_all(&buffer[..read]).await?;
            }
        }
        let _ = client_write.shutdown().await;
        Ok::<(), io::Error>(())
    };
    tokio::try_join!(upstream, downstream).map(drop)
}
