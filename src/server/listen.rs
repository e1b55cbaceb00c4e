//! Serving the router on a listener, with what a server facing hostile clients needs: a
//! deadline for a request's headers (a client that sends one byte a second cannot hold a
//! connection open forever), no Nagle delay on answers, and a graceful shutdown that lets
//! in-flight requests finish.
//!
//! axum's own `serve` has no header deadline (hyper needs a timer for one), so this is its
//! accept loop with hyper's HTTP/1 builder configured.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A server running in this process.
#[derive(Debug)]
pub struct ServerHandle {
    pub addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// The base URL clients use, e.g. `http://127.0.0.1:8000`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish for up to `grace`, then aborts the rest.
    pub async fn shutdown(mut self, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "server task failed"),
            Err(_) => {
                tracing::warn!(
                    "in-flight requests did not finish within {}s; closing them",
                    grace.as_secs()
                );
                self.task.abort();
            }
        }
    }
}

/// Serves `app` on `listener` in a background task.
pub fn serve(listener: TcpListener, app: Router) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, app, stopping));
    Ok(ServerHandle {
        addr,
        stop: Some(stop),
        task,
    })
}

async fn accept_loop(listener: TcpListener, app: Router, mut stopping: watch::Receiver<bool>) {
    // Every connection task holds a receiver; the loop waits for them all at the end.
    let (all_done, connection_done) = watch::channel(());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a moment instead of spinning, and go on.
                    tracing::debug!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopping.changed() => break,
        };
        // Answers go out at once, not when Nagle's algorithm sees the previous one
        // acknowledged.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let (mut stopping, done) = (stopping.clone(), connection_done.clone());
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(connection_done);
    all_done.closed().await;
}
